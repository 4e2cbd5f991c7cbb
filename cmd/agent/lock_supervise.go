package main

import (
	"context"
	"syscall"
	"time"
)

// lockCheck is how often a holder compares the clock with its stop times.
// Go's monotonic clock keeps running while the process is stopped
// (SIGSTOP), so a holder that resumes after its deadline acts at once.
const lockCheck = 50 * time.Millisecond

// supervise waits for COMMAND (process group pgid) to exit; it stops it
// when the lease is gone, when the stop times pass without a confirmed
// renew, or on SIGINT/SIGTERM (ctx). It reports whether the lock was lost.
func (l *lockSession) supervise(ctx context.Context, pgid int, exited <-chan struct{}) (lost bool) {
	t := time.NewTicker(lockCheck)
	defer t.Stop()
	for {
		select {
		case <-exited:
			return false
		case <-ctx.Done():
			_, killAt := lockStopTimes(l.lock.LastAck(), l.ttl)
			l.stopGroup(pgid, exited, killAt)
			return false
		case <-l.lock.Lost():
			l.stopGroup(pgid, exited, time.Now().Add(100*time.Millisecond))
			return true
		case now := <-t.C:
			termAt, killAt := lockStopTimes(l.lock.LastAck(), l.ttl)
			if !now.Before(termAt) {
				l.stopGroup(pgid, exited, killAt)
				return true
			}
		}
	}
}

// stopGroup sends SIGTERM to the group, then SIGKILL at killAt unless it
// exited by then (at once when killAt has passed).
func (l *lockSession) stopGroup(pgid int, exited <-chan struct{}, killAt time.Time) {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	timer := time.NewTimer(time.Until(killAt))
	defer timer.Stop()
	select {
	case <-exited:
	case <-timer.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}
