// Package autopilot turns gossip membership into Raft membership on the
// leader. It is built on hashicorp/raft-autopilot, which already does health
// tracking, stabilization, one voter change per round and the dead-server
// quorum guard; this package adds what that library leaves to its users:
//
//   - the delegate that reports gossip members as known servers, with a grace
//     period before a dead member counts as removable (dead_server_reap_after);
//   - a promoter that caps voters at max_voters, spreads them across zones and
//     replaces a failed voter with a healthy non-voter;
//   - the removal filter that never touches the leader, removes at most a
//     minority of the voters in one pass and never goes below min_quorum
//     voters (the library's own guards count non-voters too).
//
// Decisions are pure functions of a snapshot of inputs (see plan.go), so they
// are tested exhaustively without a cluster.
package autopilot

import (
	"time"
)

// MemberStatus is a gossip member's status.
type MemberStatus string

// Gossip statuses, as discovery reports them.
const (
	StatusAlive   MemberStatus = "alive"
	StatusSuspect MemberStatus = "suspect"
	StatusDead    MemberStatus = "dead"
	StatusLeft    MemberStatus = "left"
)

// Member is a Raft-capable server as the gossip layer knows it.
type Member struct {
	ID       string
	RaftAddr string
	HTTPAddr string
	Zone     string
	Version  string
	Status   MemberStatus
	// Since is when Status last changed, as observed by this node.
	Since time.Time
}

// Settings are the tunables of our promoter and removal filter. They travel
// to the promoter in autopilot.Config.Ext, so a settings change takes effect
// on the next round without restarting anything.
type Settings struct {
	// MaxVoters caps the number of voters. Must be at least 1.
	MaxVoters int
	// MinQuorum is the fewest voters autopilot may leave when pruning.
	MinQuorum int
	// DeadServerReapAfter is how long a member must be failed before it may be removed.
	DeadServerReapAfter time.Duration
	// ServerStabilizationTime is how long a server must be healthy before promotion;
	// also how long a voter must be unhealthy before it counts as failed and may be replaced.
	ServerStabilizationTime time.Duration
}

// serverExt is what the delegate attaches to each autopilot.Server (in Ext):
// facts the promoter needs and the library does not model.
type serverExt struct {
	Zone string
	// FailedSince is when this server was first seen failed (dead in gossip
	// or missing from it); zero while it is alive.
	FailedSince time.Time
}

func extOf(v interface{}) serverExt {
	if e, ok := v.(*serverExt); ok && e != nil {
		return *e
	}
	return serverExt{}
}
