//go:build !linux

package proc

import (
	"context"
	"syscall"
)

// sysProcAttr: only Linux can tie a child's life to the harness.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// waitSignalled cannot see here whether a process has stopped; SIGSTOP
// takes effect shortly after it is sent.
func waitSignalled(context.Context, int, bool) error { return nil }
