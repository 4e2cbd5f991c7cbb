// Package testutil holds helpers shared by the project's tests. It imports no
// project package, so any test may use it without an import cycle.
package testutil

import (
	"testing"
	"time"
)

// pollInterval is how often WaitFor re-checks its condition.
const pollInterval = 20 * time.Millisecond

// WaitFor polls cond until it returns nil or timeout passes, then fails the
// test with the last error cond returned. It never sleeps to synchronise: it
// only waits between checks of a real condition.
func WaitFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	if err := Poll(timeout, cond); err != nil {
		t.Fatalf("condition not met within %s: %v", timeout, err)
	}
}

// Poll is WaitFor without a testing.TB: it returns the last error seen when
// timeout passes, or nil as soon as cond does.
func Poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		<-ticker.C
	}
}

// Never checks cond throughout d and fails the test the first time it
// returns an error: for asserting that something does not happen within a
// window (no pruning below quorum, no second leader).
func Never(t testing.TB, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for time.Now().Before(deadline) {
		if err := cond(); err != nil {
			t.Fatalf("violated within %s: %v", d, err)
		}
		<-ticker.C
	}
}
