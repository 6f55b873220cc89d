package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// ErrNoDatabase: Options.MustExist is set and the SQLite file does not exist.
var ErrNoDatabase = errors.New("no database")

// SQLiteFile is the path of the file a SQLite DSN names, as SQLite reads it,
// or "" for an in-memory or temporary database. A DSN is a plain path,
// whose query the driver removes, or a "file:" URI, which SQLite decodes.
func SQLiteFile(dsn string) string {
	if !strings.HasPrefix(dsn, "file:") {
		path, _, _ := strings.Cut(dsn, "?")
		if path == ":memory:" {
			return ""
		}
		return path
	}
	rest, _, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "#")
	rest, query, _ := strings.Cut(rest, "?")
	if strings.HasPrefix(rest, "//") {
		// file://host/path: SQLite accepts only an empty host or localhost.
		_, p, _ := strings.Cut(rest[2:], "/")
		rest = "/" + p
	}
	path, err := url.PathUnescape(rest)
	if err != nil {
		path = rest // SQLite leaves a malformed escape as it is
	}
	if q, err := url.ParseQuery(query); err == nil && q.Get("mode") == "memory" {
		return ""
	}
	if path == ":memory:" {
		return ""
	}
	return path
}

// sqliteFileSuffixes name the files SQLite keeps beside a database: the
// write-ahead log and its shared-memory index, and the rollback journal that
// a database not yet in WAL mode may have left.
var sqliteFileSuffixes = []string{"-wal", "-shm", "-journal"}

// prepareSQLiteFile makes the database file at path exist with mode 0600
// before the driver opens it, or with mustExist reports ErrNoDatabase when it
// does not exist.
//
// The file holds password hashes and the audit log. SQLite would create it
// 0644 (less the umask), and it creates the -wal, -shm and -journal files
// with the database file's own mode (findCreateFileMode in its unix VFS,
// which modernc.org/sqlite is translated from), changing it explicitly so
// that the umask does not apply. So a database file created 0600 here gives
// 0600 files all round, whatever the umask.
//
// An existing file readable or writable by group or others, left by an
// older version or made by the sqlite3 shell, has those bits removed: the
// operator expects the same protection on an upgraded installation as on a
// new one. The files beside it are tightened too, since after a crash
// SQLite reuses them with whatever mode they have. A file the process may
// not chmod (it is not the owner) is an error rather than left readable.
func prepareSQLiteFile(path string, mustExist bool) error {
	if mustExist {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", path, ErrNoDatabase)
		}
	} else if created, err := createOwnerOnly(path); err != nil {
		return err
	} else if created {
		return nil
	}
	if runtime.GOOS == "windows" {
		// There the mode bits are only the read-only attribute; access is
		// governed by the ACLs, which a new file inherits from its folder.
		return nil
	}
	// SQLite names the files beside a database after its resolved path.
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("database file: %w", err)
	}
	for _, p := range append([]string{real}, suffixed(real)...) {
		if err := removeGroupOther(p); err != nil {
			return err
		}
	}
	return nil
}

func suffixed(path string) []string {
	l := make([]string, len(sqliteFileSuffixes))
	for i, s := range sqliteFileSuffixes {
		l[i] = path + s
	}
	return l
}

// createOwnerOnly creates an empty file at path with mode 0600 and reports
// whether it did; an existing file is left alone. SQLite reads an empty
// file as an empty database.
func createOwnerOnly(path string) (bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create database file: %w", err)
	}
	// The umask may have removed owner bits (umask 0277 gives 0400, which
	// SQLite could not write): set the mode itself.
	err = f.Chmod(0o600)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return false, fmt.Errorf("create database file: %w", err)
	}
	return true, nil
}

// removeGroupOther removes the group and other permission bits of the file
// at path, if it exists.
func removeGroupOther(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("database file: %w", err)
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(path, perm&^0o077); err != nil {
		return fmt.Errorf("database file %s has mode %04o, which lets group or others access it, and it cannot be tightened (chmod 600 it as its owner): %w",
			path, perm, err)
	}
	return nil
}
