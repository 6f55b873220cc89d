//go:build !unix

package pgtest

import (
	"os"
	"syscall"
)

func sysProcAttr(*account) *syscall.SysProcAttr { return nil }

func interruptProcess(p *os.Process) error { return p.Kill() }

func quitProcess(p *os.Process) error { return p.Kill() }
