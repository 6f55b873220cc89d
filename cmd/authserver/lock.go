package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"authserver/config"
	"authserver/storage"
)

// errLocked: another open file holds the lock.
var errLocked = errors.New("locked")

// lockDatabase makes sure that at most one serve process uses a SQLite
// database. SQLite is for one server process; a second one, started by
// mistake (another unit, other ports), would otherwise run silently beside
// the first, with rate-limit budgets and caches of its own. It takes an
// exclusive lock on the file named after the database with ".lock"
// appended, without waiting, and holds it until release is called or the
// process ends: the kernel drops it however the process ended.
//
// Only serve takes it: the one-shot commands (migrate, pat, user, keys) are
// meant to run beside the server, and SQLite's own locks order their writes.
//
// The lock is on a file of its own, not on the database: SQLite locks the
// database with POSIX record locks, which are independent of flock on Linux
// and the BSDs but are what some systems emulate flock with (the Linux NFS
// client among them), where the two would conflict; and a file of its own
// can name the process that holds it. The file is never removed: were it
// removed on release, a process that had opened it just before would lock
// the removed file while the next one locked a new one.
func lockDatabase(cfg *config.Config) (release func(), err error) {
	noop := func() {}
	if cfg.Database.Driver != storage.DriverSQLite {
		return noop, nil // PostgreSQL serves any number of replicas
	}
	path := storage.SQLiteFile(cfg.Database.DSN.Reveal())
	if path == "" {
		return noop, nil // in memory: no other process can see it
	}
	// Name the file the same way from every working directory and through
	// every symbolic link, as SQLite does.
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	lock := path + ".lock"
	f, err := lockFile(lock)
	if errors.Is(err, errLocked) {
		holder := ""
		if pid := readPID(lock); pid != 0 {
			holder = " by process " + strconv.Itoa(pid)
		}
		return nil, fmt.Errorf("another authserver process is serving %s (lock %s held%s)", path, lock, holder)
	}
	if err != nil {
		return nil, fmt.Errorf("lock the database: %w", err)
	}
	if f == nil {
		return noop, nil
	}
	// For the message above, in the process that finds it taken. Only a
	// hint, so a failure to write it does not stop the server.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}

// readPID reads the process id a lock file holds, or 0.
func readPID(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 32))
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil {
		return 0
	}
	return pid
}
