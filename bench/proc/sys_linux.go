package proc

import "syscall"

// sysProcAttr puts the process in its own process group and has the kernel
// SIGKILL it when the thread that forked it ends: the harness never locks
// goroutines to threads, so that is when the harness dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
