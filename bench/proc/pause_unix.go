//go:build unix

package proc

import (
	"os"
	"syscall"
)

// stopSignal and contSignal pause and resume a process.
var stopSignal, contSignal os.Signal = syscall.SIGSTOP, syscall.SIGCONT
