package chaos

// FaultKind names one kind of fault the nemesis injects.
type FaultKind string

// The fault kinds. Each injected fault has a start and an end in the run's
// schedule; the end is where the fault is healed (a restart, a resume, a
// healed network) and where its recovery time is measured from.
const (
	// KillLeader kills the leader as kill -9 would, then restarts it with
	// its data dir.
	KillLeader FaultKind = "kill-leader"
	// KillFollower kills a follower, then restarts it.
	KillFollower FaultKind = "kill-follower"
	// PauseLeader freezes the leader for longer than the election timeout.
	PauseLeader FaultKind = "pause-leader"
	// PartitionLeader isolates the leader from every other node.
	PartitionLeader FaultKind = "partition-leader"
	// PartitionFollower isolates one follower.
	PartitionFollower FaultKind = "partition-follower"
	// OneWayCut blocks traffic from the leader to one follower only.
	OneWayCut FaultKind = "one-way-cut"
	// GossipLoss drops a share of gossip packets on every link.
	GossipLoss FaultKind = "gossip-loss"
	// RaftDelay delays every write on the Raft streams.
	RaftDelay FaultKind = "raft-delay"
	// Churn adds a new server through a seed while killing another for good;
	// autopilot must promote the one and prune the other.
	Churn FaultKind = "churn"
	// FullRestart kills every node, then restarts them one after another.
	FullRestart FaultKind = "full-restart"
	// MassRestart kills every node and restarts them all at once; gossip must
	// not leave anyone marked dead for good.
	MassRestart FaultKind = "mass-restart"
)

// AllFaultKinds lists every kind in a stable order.
var AllFaultKinds = []FaultKind{
	KillLeader, KillFollower, PauseLeader, PartitionLeader, PartitionFollower,
	OneWayCut, GossipLoss, RaftDelay, Churn, FullRestart, MassRestart,
}
