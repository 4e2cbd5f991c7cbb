//go:build !unix

package procrun

import (
	"context"
	"os"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

// stopSignal and contSignal are nil where processes cannot be frozen by a
// signal; Pause and Resume then report chaos.ErrUnsupported.
var stopSignal, contSignal os.Signal

// waitSignalled is never reached here: Pause and Resume give up first.
func waitSignalled(context.Context, int, bool) error { return nil }
