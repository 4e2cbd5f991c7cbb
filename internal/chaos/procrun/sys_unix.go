//go:build unix && !linux

package procrun

import (
	"context"
	"os"
	"syscall"
)

// sysProcAttr puts each agent in its own process group, so a Ctrl-C at the
// terminal reaches the runner and not the agents. Only Linux can also tie
// the agents' lives to the runner's (Pdeathsig).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// stopSignal and contSignal pause and resume a process.
var stopSignal, contSignal os.Signal = syscall.SIGSTOP, syscall.SIGCONT

// waitSignalled cannot see here whether a process has stopped; SIGSTOP
// takes effect shortly after it is sent.
func waitSignalled(context.Context, int, bool) error { return nil }
