//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || solaris)

package main

import "os"

// lockFile takes no lock where flock is missing (Windows among others): a
// second serve on one SQLite file is then not refused, and the operator
// must see to it that only one runs.
func lockFile(string) (*os.File, error) { return nil, nil }
