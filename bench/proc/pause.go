package proc

import (
	"context"
	"errors"
)

// ErrNoPause is returned by Pause and Resume where a process cannot be
// frozen by a signal.
var ErrNoPause = errors.New("proc: processes cannot be paused on this platform")

// CanPause reports whether Pause and Resume work here.
func CanPause() bool { return stopSignal != nil }

// Pause freezes the process with SIGSTOP. On Linux it returns once every
// thread of the process is stopped, bounded by ctx: a signal is delivered
// asynchronously, and a Pause that returned while the process still
// answered would make a caller's timings lie.
func (p *Process) Pause(ctx context.Context) error { return p.freeze(ctx, true) }

// Resume thaws a paused process with SIGCONT. On Linux it returns once no
// thread of the process is stopped, bounded by ctx.
func (p *Process) Resume(ctx context.Context) error { return p.freeze(ctx, false) }

func (p *Process) freeze(ctx context.Context, stop bool) error {
	sig := contSignal
	if stop {
		sig = stopSignal
	}
	if sig == nil {
		return ErrNoPause
	}
	if err := p.Send(sig); err != nil {
		return err
	}
	return waitSignalled(ctx, p.Pid(), stop)
}
