//go:build unix

package pgtest

import (
	"os"
	"syscall"
)

// sysProcAttr puts the server programs in their own process group (so a
// terminal's Ctrl-C reaches only the test binary, which shuts them down in
// order), runs them as runAs if set and, on Linux, has the kernel send them
// SIGQUIT when the test binary dies.
func sysProcAttr(runAs *account) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if runAs != nil {
		attr.Credential = &syscall.Credential{Uid: uint32(runAs.uid), Gid: uint32(runAs.gid)}
	}
	setParentDeathSignal(attr)
	return attr
}

// interruptProcess asks postgres for a fast shutdown.
func interruptProcess(p *os.Process) error { return p.Signal(syscall.SIGINT) }

// quitProcess asks postgres for an immediate shutdown.
func quitProcess(p *os.Process) error { return p.Signal(syscall.SIGQUIT) }

// signalGroup stops (SIGSTOP) or continues (SIGCONT) the server: the
// postmaster first, so that it forks no new backend meanwhile, then each of
// its children (backends call setsid, so the process group does not reach
// them).
func signalGroup(pid int, stop bool) error {
	sig := syscall.SIGCONT
	if stop {
		sig = syscall.SIGSTOP
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return err
	}
	kids, err := childrenOf(pid)
	if err != nil {
		return err
	}
	for _, k := range kids {
		if err := syscall.Kill(k, sig); err != nil && err != syscall.ESRCH {
			return err
		}
	}
	return nil
}
