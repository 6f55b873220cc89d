package pgtest

import "syscall"

// setParentDeathSignal makes the kernel send postgres SIGQUIT (immediate
// shutdown) when the thread that started it exits; startProcess starts
// every process from a thread that lives as long as the test binary.
func setParentDeathSignal(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGQUIT }
