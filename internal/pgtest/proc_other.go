//go:build !unix

package pgtest

import (
	"errors"
	"os"
	"syscall"
)

func sysProcAttr(*account) *syscall.SysProcAttr { return nil }

func interruptProcess(p *os.Process) error { return p.Kill() }

func quitProcess(p *os.Process) error { return p.Kill() }

func signalGroup(int, bool) error { return errors.New("freezing a server needs process groups (unix)") }
