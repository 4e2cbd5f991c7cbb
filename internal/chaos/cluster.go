package chaos

import (
	"context"
	"errors"
	"time"
)

// ErrUnsupported is returned by a Cluster for a fault its runner cannot
// inject (a one-way cut between containers, say). The nemesis never
// schedules a fault kind the cluster does not list in Supports.
var ErrUnsupported = errors.New("chaos: fault not supported by this runner")

// Cluster is a running cluster of agents that a runner (in-process, Docker)
// starts and the nemesis breaks. Nodes are named by their agent node IDs.
//
// Every method is bounded by its ctx and safe to call from one goroutine at a
// time (the nemesis); URL and Nodes may be called concurrently with anything.
type Cluster interface {
	// Name names the runner ("inproc", "docker") for reports.
	Name() string
	// Supports lists the fault kinds this runner can inject.
	Supports() []FaultKind
	// Nodes returns every node the cluster has started, running or not, in
	// the order they were added.
	Nodes() []string
	// URL is the base URL of node's client HTTP API ("http://host:port").
	URL(node string) string
	// Kill stops node abruptly, as kill -9 would: no leadership hand-off,
	// no leave, nothing flushed beyond what was already synced.
	Kill(ctx context.Context, node string) error
	// Restart starts a killed node again with its data dir and addresses.
	Restart(ctx context.Context, node string) error
	// Pause freezes node (SIGSTOP, docker pause) until Resume.
	Pause(ctx context.Context, node string) error
	// Resume thaws a paused node.
	Resume(ctx context.Context, node string) error
	// Partition splits the nodes into groups that cannot reach each other
	// (Raft, agent-to-agent and gossip traffic). Nodes in no group keep
	// their links.
	Partition(ctx context.Context, groups [][]string) error
	// Cut blocks traffic from one node to another, in that direction only.
	Cut(ctx context.Context, from, to string) error
	// GossipLoss drops the share p (0..1) of gossip packets on every link.
	GossipLoss(ctx context.Context, p float64) error
	// RaftDelay holds every write on every Raft and agent-to-agent stream
	// between distinct nodes for d.
	RaftDelay(ctx context.Context, d time.Duration) error
	// Heal removes every network fault (partitions, cuts, loss, delay). It
	// does not restart killed nodes or resume paused ones.
	Heal(ctx context.Context) error
	// AddNode starts a fresh server that joins through a seed and returns
	// its ID.
	AddNode(ctx context.Context) (string, error)
	// Settings are the autopilot settings the cluster's agents run with.
	Settings() AutopilotSettings
	// CollectLogs copies every node's log into dir, one file per node.
	CollectLogs(ctx context.Context, dir string) error
	// Close stops every node and removes everything the runner created.
	Close() error
}

// AutopilotSettings are the agents' autopilot settings that the
// invariants check the Raft configuration against.
type AutopilotSettings struct {
	MaxVoters           int
	MinQuorum           int
	DeadServerReapAfter time.Duration
}
