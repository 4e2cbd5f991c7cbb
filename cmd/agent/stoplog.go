package main

import (
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// stopLog keeps raft's and memberlist's ERROR lines for real errors. Those
// libraries log at ERROR whenever a peer does not answer, on every retry,
// and when their own listeners close under them; but peers stop and
// restart as a matter of course (one Ctrl-C in make run stops three agents
// whose signals arrive a few milliseconds apart, a leaving server is gone
// before the leader removes it), and autopilot's health and the gossip
// status already report a peer that stays away. So:
//
//   - a peer that does not answer is logged at WARN (demoted), always;
//   - a closed listener or connection is left out once this agent has begun
//     to stop, and the agent says at the end how many it left out.
type stopLog struct {
	stopping atomic.Bool
	dropped  atomic.Int64
	// warn writes demoted lines; it shares the root logger's output.
	warn hclog.Logger
}

// benignLine is a library message known to be harmless in some situation.
type benignLine struct {
	prefix string
	// from names the sub-logger the library writes through, so a demoted
	// line keeps its origin.
	from string
	// onlyStopping: harmless only while this agent stops (its own listener
	// closing); otherwise harmless always (a peer that does not answer).
	onlyStopping bool
}

var benignLines = []benignLine{
	{"failed to heartbeat to", "raft", false},
	{"failed to appendEntries to", "raft", false},
	{"failed to make requestVote RPC", "raft", false},
	{"failed to accept connection", "raft.transport", true},
	{"failed to decode incoming command", "raft.transport", true},
	{"memberlist: Failed to send", "gossip", true},
	{"memberlist: Error accepting TCP", "gossip", true},
	{"memberlist: Error reading UDP", "gossip", true},
	{"memberlist: Failed to receive", "gossip", true},
	{"memberlist: failed to receive", "gossip", true},
	{"memberlist: Push/Pull with", "gossip", true},
	{"memberlist: Failed fallback TCP", "gossip", true},
}

// lineAction is what becomes of one log line.
type lineAction int

const (
	keep lineAction = iota
	demote
	drop
)

// classify decides what becomes of a line at level with msg; from is the
// sub-logger of a demoted line.
func classify(level hclog.Level, msg string, stopping bool) (act lineAction, from string) {
	if level != hclog.Error {
		return keep, ""
	}
	for _, b := range benignLines {
		if !strings.HasPrefix(msg, b.prefix) {
			continue
		}
		switch {
		case !b.onlyStopping:
			return demote, b.from
		case stopping:
			return drop, ""
		}
		return keep, ""
	}
	return keep, ""
}

// exclude is the root logger's filter (hclog's LoggerOptions.Exclude): it
// runs under that logger's lock, so a demoted line goes out through warn,
// a logger of its own.
func (s *stopLog) exclude(level hclog.Level, msg string, args ...any) bool {
	act, from := classify(level, msg, s.stopping.Load())
	switch act {
	case demote:
		s.warn.Named(from).Warn(msg, args...)
		return true
	case drop:
		s.dropped.Add(1)
		return true
	}
	return false
}
