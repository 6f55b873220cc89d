package config

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// maxSecretFile bounds a …_file secret: a DSN, a key or a password is a
// line, and a mistaken path to a large file should fail, not be loaded.
const maxSecretFile = 64 << 10

// secretFile is a secret whose value may instead be read from a file, as
// with Docker and Kubernetes secrets mounted as files.
type secretFile struct {
	value     *Secret
	file      string
	valuePath string // database.dsn
	filePath  string // database.dsn_file
}

// secretFiles lists every secret that has a …_file key.
func secretFiles(c *Config) []secretFile {
	s := []secretFile{
		{&c.Database.DSN, c.Database.DSNFile, "database.dsn", "database.dsn_file"},
		{&c.Keys.EncryptionKey, c.Keys.EncryptionKeyFile, "keys.encryption_key", "keys.encryption_key_file"},
	}
	s = append(s, secretFile{&c.SMTP.Password, c.SMTP.PasswordFile, "smtp.password", "smtp.password_file"})
	for i := range c.Events.SSF.Receivers {
		r := &c.Events.SSF.Receivers[i]
		p := index("events.ssf.receivers", i)
		s = append(s, secretFile{&r.Authorization, r.AuthorizationFile, key(p, "authorization"), key(p, "authorization_file")})
	}
	for i := range c.Bootstrap.Organizations {
		o := &c.Bootstrap.Organizations[i]
		for j := range o.Users {
			u := &o.Users[j]
			p := index(key(index("bootstrap.organizations", i), "users"), j)
			s = append(s, secretFile{&u.Password, u.PasswordFile, key(p, "password"), key(p, "password_file")})
		}
	}
	return s
}

// readSecretFiles fills each secret from its file. Giving both the value and
// the file is a problem rather than a precedence rule: one of them would be
// silently ignored. It returns the key paths involved in a problem (value
// and file), so that validation does not repeat them, and, for each value it
// read, the file key it came from.
func readSecretFiles(c *Config, errs *Errors) (failed []string, from map[string]string) {
	from = map[string]string{}
	for _, s := range secretFiles(c) {
		if s.file == "" {
			continue
		}
		if *s.value != "" {
			errs.addf(s.filePath, "set together with %s: use one or the other", s.valuePath)
			failed = append(failed, s.valuePath, s.filePath)
			continue
		}
		v, err := readSecret(s.file)
		if err != nil {
			errs.addf(s.filePath, "%s", err)
			failed = append(failed, s.valuePath, s.filePath)
			continue
		}
		*s.value = Secret(v)
		from[s.valuePath] = s.filePath
	}
	return failed, from
}

// readSecret reads a secret file without its one trailing newline (\n or
// \r\n), which editors and `echo` add. Its errors name the file, never what
// it holds. A relative name is relative to the working directory.
func readSecret(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("cannot read secret file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("cannot read secret file: %w", err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("secret file %s is larger than %d KiB", name, maxSecretFile>>10)
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		s = t
	} else {
		s = strings.TrimSuffix(s, "\n")
	}
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", name)
	}
	return s, nil
}
