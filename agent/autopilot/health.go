package autopilot

import (
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	ap "github.com/hashicorp/raft-autopilot"
)

// Raft is the part of the local Raft node autopilot drives: membership
// changes, the configuration, and the facts health is judged by. *raft.Raft
// satisfies it; tests substitute a fake. Methods are called from autopilot's
// goroutines while the Manager runs, and return futures the caller waits on.
type Raft interface {
	AddNonvoter(id raft.ServerID, address raft.ServerAddress, prevIndex uint64, timeout time.Duration) raft.IndexFuture
	AddVoter(id raft.ServerID, address raft.ServerAddress, prevIndex uint64, timeout time.Duration) raft.IndexFuture
	DemoteVoter(id raft.ServerID, prevIndex uint64, timeout time.Duration) raft.IndexFuture
	RemoveServer(id raft.ServerID, prevIndex uint64, timeout time.Duration) raft.IndexFuture
	LeadershipTransferToServer(id raft.ServerID, address raft.ServerAddress) raft.Future
	GetConfiguration() raft.ConfigurationFuture
	LastIndex() uint64
	Leader() raft.ServerAddress
	State() raft.RaftState
	Stats() map[string]string
}

// ServerStats are the Raft facts a server's health is judged by.
type ServerStats struct {
	// LastContact is how long ago the server last heard from the leader
	// (zero on the leader itself).
	LastContact time.Duration
	// LastTerm and LastIndex are the term and index of its last log entry.
	LastTerm  uint64
	LastIndex uint64
}

func (s ServerStats) toLibrary() ap.ServerStats {
	return ap.ServerStats{LastContact: s.LastContact, LastTerm: s.LastTerm, LastIndex: s.LastIndex}
}

// Health is autopilot's last view of the cluster, as the leader computed it.
type Health struct {
	Healthy          bool
	FailureTolerance int
	Leader           string
	// Voters are the IDs of the voting servers, sorted.
	Voters []string
	// Servers are sorted by ID.
	Servers []ServerHealth
}

// ServerHealth is one server in a Health.
type ServerHealth struct {
	ID         string
	Address    string
	NodeStatus string
	Healthy    bool
	Voter      bool
	Leader     bool
	Stats      ServerStats
	// StableSince is when the server's health last changed.
	StableSince time.Time
}

// healthOf copies the library's state into our own types, so that the rest
// of the agent depends on this package alone.
func healthOf(st *ap.State) *Health {
	h := &Health{Healthy: st.Healthy, FailureTolerance: st.FailureTolerance, Leader: string(st.Leader),
		Voters: []string{}, Servers: []ServerHealth{}}
	for _, v := range st.Voters {
		h.Voters = append(h.Voters, string(v))
	}
	slices.Sort(h.Voters)
	for _, s := range st.Servers {
		h.Servers = append(h.Servers, ServerHealth{
			ID:          string(s.Server.ID),
			Address:     string(s.Server.Address),
			NodeStatus:  string(s.Server.NodeStatus),
			Healthy:     s.Health.Healthy,
			Voter:       s.HasVotingRights(),
			Leader:      s.State == ap.RaftLeader,
			Stats:       ServerStats{LastContact: s.Stats.LastContact, LastTerm: s.Stats.LastTerm, LastIndex: s.Stats.LastIndex},
			StableSince: s.Health.StableSince,
		})
	}
	slices.SortFunc(h.Servers, func(a, b ServerHealth) int { return strings.Compare(a.ID, b.ID) })
	return h
}
