package discovery

import (
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clusteragent/agent/internal/clock"
)

// failureLogInterval is how often a failure that keeps recurring unchanged
// is logged again: a seed name that stays empty for hours must not print a
// line per retry, yet an operator tailing the log should still see it.
const failureLogInterval = time.Minute

// rateState is what a rateLog remembers of the failures it has seen.
type rateState struct {
	failing    bool
	lastKey    string    // what the last logged failure was about
	lastAt     time.Time // when it was logged
	suppressed int       // failures since then that were not logged
}

// nextRateState decides whether a failure identified by key, seen at now,
// is logged: the first of a run, one that differs from the last logged,
// and otherwise one per interval. It returns the state to keep.
func nextRateState(s rateState, key string, now time.Time, interval time.Duration) (bool, rateState) {
	due := !s.failing || key != s.lastKey || now.Sub(s.lastAt) >= interval
	if !due {
		s.suppressed++
		return false, s
	}
	return true, rateState{failing: true, lastKey: key, lastAt: now}
}

// rateLog logs a recurring failure at a rate a person can read (see
// nextRateState); the repeats it holds back go to Debug. Its zero value is
// not usable: set logger and clock.
type rateLog struct {
	logger hclog.Logger
	clock  clock.Clock
	mu     sync.Mutex
	state  rateState
}

// failure records one failure; key tells failures apart (an error message),
// msg and args are what is logged.
func (r *rateLog) failure(key, msg string, args ...any) {
	r.mu.Lock()
	suppressed := r.state.suppressed
	due, next := nextRateState(r.state, key, r.clock.Now(), failureLogInterval)
	r.state = next
	r.mu.Unlock()
	if !due {
		r.logger.Debug(msg, args...)
		return
	}
	if suppressed > 0 {
		args = append(args, "repeats_not_logged", suppressed)
	}
	r.logger.Warn(msg, args...)
}

// recovered ends a run of failures, logging msg once if there was one.
func (r *rateLog) recovered(msg string, args ...any) {
	r.mu.Lock()
	was := r.state.failing
	r.state = rateState{}
	r.mu.Unlock()
	if was {
		r.logger.Info(msg, args...)
	}
}
