package raftnode

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusteragent/agent/internal/testutil"
)

func TestStaticPeersThreeNodes(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, []string{"a", "b", "c"}, func(o *Options) {
		o.Registerer = prometheus.NewRegistry() // separate registries per node
	})
	// startCluster opens c, b, a in that order; only a (lowest ID) may have
	// written a bootstrap configuration.
	for _, n := range nodes {
		if n.hadState {
			t.Fatalf("%s had state at open", n.NodeID())
		}
	}
	leader := waitLeader(t, nodes...)
	// A follower learns the leader from a heartbeat, which can arrive
	// before the entries carrying the configuration.
	testutil.WaitFor(t, waitTimeout, func() error {
		for _, n := range nodes {
			got := suffrages(t, n)
			if len(got) != 3 || got["a"] != "voter" || got["b"] != "voter" || got["c"] != "voter" {
				return fmt.Errorf("%s sees configuration %v, want 3 voters", n.NodeID(), got)
			}
		}
		return nil
	})
	// Exactly one bootstrap: the configuration was written once, at index 1
	// of a's log, and b and c received it by replication.
	for _, n := range nodes {
		cfg, err := n.GetConfiguration(ctxT(t))
		if err != nil || cfg.Index != 1 {
			t.Fatalf("%s configuration index %d (%v), want 1", n.NodeID(), cfg.Index, err)
		}
	}
	leader = applyCluster(t, nodes, "w", 5)
	waitApplied(t, 5, nodes...)

	follower := others(nodes, leader)[0]
	t.Run("apply on follower", func(t *testing.T) {
		_, err := follower.ApplyBytes(ctxT(t), []byte("x"))
		var nle *NotLeaderError
		if !errors.As(err, &nle) || !errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoLeader) {
			t.Fatalf("Apply on follower: %v", err)
		}
		if nle.LeaderID != leader.NodeID() || nle.LeaderAddr != leader.Addr() {
			t.Fatalf("NotLeaderError names %s@%s, want %s@%s", nle.LeaderID, nle.LeaderAddr, leader.NodeID(), leader.Addr())
		}
		if err := follower.AddVoter(ctxT(t), "z", "127.0.0.1:1"); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("AddVoter on follower: %v", err)
		}
		if err := follower.TransferLeadership(ctxT(t), ""); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("TransferLeadership on follower: %v", err)
		}
		if st := follower.Status(); st.LastContact < 0 || st.State != "follower" {
			t.Fatalf("follower status %+v", st)
		}
	})

	t.Run("linearizable read", func(t *testing.T) {
		committed := leader.Raft().CommitIndex()
		if err := leader.LinearizableRead(ctxT(t)); err != nil {
			t.Fatalf("on leader: %v", err)
		}
		if got := leader.Raft().AppliedIndex(); got < committed {
			t.Fatalf("applied index %d behind the commit index %d seen before the read", got, committed)
		}
		if err := follower.LinearizableRead(ctxT(t)); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("on follower: %v", err)
		}
	})

	t.Run("transfer leadership", func(t *testing.T) {
		if err := leader.TransferLeadership(ctxT(t), "nobody"); !errors.Is(err, ErrUnknownServer) {
			t.Fatalf("transfer to unknown: %v", err)
		}
		if err := leader.TransferLeadership(ctxT(t), leader.NodeID()); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("transfer to self: %v", err)
		}
		// A transfer may time out on a loaded machine (the target must win
		// an election within raft's election timeout); the old leader then
		// keeps leading, and the transfer is asked again.
		target := others(nodes, leader)[1]
		testutil.WaitFor(t, waitTimeout, func() error {
			from := waitLeader(t, nodes...)
			if from == target {
				return nil
			}
			if err := from.TransferLeadership(ctxT(t), target.NodeID()); err != nil {
				return fmt.Errorf("transfer from %s to %s: %w", from.NodeID(), target.NodeID(), err)
			}
			return nil
		})
		testutil.WaitFor(t, waitTimeout, func() error {
			if got := waitLeader(t, nodes...); got != target {
				return fmt.Errorf("leader is %s, want %s", got.NodeID(), target.NodeID())
			}
			return nil
		})
		testutil.WaitFor(t, waitTimeout, func() error {
			if got := waitLeader(t, nodes...); got != target {
				return nil // moved
			}
			if err := target.TransferLeadership(ctxT(t), ""); err != nil {
				return fmt.Errorf("transfer from %s to any: %w", target.NodeID(), err)
			}
			return nil
		})
		if got := waitLeader(t, nodes...); got == target {
			t.Fatal("leadership did not move")
		}
		leader = waitLeader(t, nodes...)
		applyCluster(t, nodes, "after-transfer", 1)
		waitApplied(t, 6, nodes...)
	})

	t.Run("demote and remove", func(t *testing.T) {
		victim := others(nodes, leader)[0]
		leader = onLeader(t, others(nodes, victim), "DemoteVoter", func(l *testNode) error { return l.DemoteVoter(ctxT(t), victim.NodeID()) })
		if got := suffrages(t, leader)[victim.NodeID()]; got != "nonvoter" {
			t.Fatalf("after demote %s is %q", victim.NodeID(), got)
		}
		if err := leader.TransferLeadership(ctxT(t), victim.NodeID()); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("transfer to a non-voter: %v", err)
		}
		if err := leader.RemoveServer(ctxT(t), victim.NodeID()); err != nil {
			t.Fatalf("RemoveServer: %v", err)
		}
		if _, ok := suffrages(t, leader)[victim.NodeID()]; ok {
			t.Fatalf("%s still in the configuration", victim.NodeID())
		}
		if err := leader.RemoveServer(ctxT(t), ""); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("RemoveServer(\"\"): %v", err)
		}
	})
}

func TestJoinOnlyNodeAddedAsNonvoterThenPromoted(t *testing.T) {
	t.Parallel()
	lo := baseOptions(t, "seed")
	lo.BootstrapPreferred = true
	leader := startNode(t, lo)
	waitLeader(t, leader)
	applyN(t, leader, "early", 3)

	jo := baseOptions(t, "joiner")
	jo.JoinOnly = true
	jo.Peers = map[string]string{"seed": leader.Addr(), "joiner": jo.Listener.Addr().String()}
	joiner := startNode(t, jo)
	if joiner.HasState() {
		t.Fatal("join-only node has state before being added")
	}
	if err := leader.AddNonvoter(ctxT(t), "joiner", "not-an-address"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("AddNonvoter with a bad address: %v", err)
	}
	before, err := leader.GetConfiguration(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.AddNonvoter(ctxT(t), "joiner", joiner.Addr()); err != nil {
		t.Fatalf("AddNonvoter: %v", err)
	}
	after, err := leader.GetConfiguration(ctxT(t))
	if err != nil || after.Index <= before.Index || after.Index != leader.Raft().LastIndex() {
		t.Fatalf("configuration index %d -> %d (last index %d), %v", before.Index, after.Index, leader.Raft().LastIndex(), err)
	}
	waitApplied(t, 3, joiner)
	if got := suffrages(t, leader)["joiner"]; got != "nonvoter" {
		t.Fatalf("joiner is %q, want nonvoter", got)
	}
	if err := leader.AddVoter(ctxT(t), "joiner", joiner.Addr()); err != nil {
		t.Fatalf("AddVoter (promote): %v", err)
	}
	if got := suffrages(t, leader)["joiner"]; got != "voter" {
		t.Fatalf("joiner is %q, want voter", got)
	}
	applyN(t, leader, "late", 2)
	waitApplied(t, 5, leader, joiner)
	testutil.WaitFor(t, waitTimeout, func() error {
		if got := suffrages(t, joiner)["joiner"]; got != "voter" {
			return fmt.Errorf("joiner sees itself as %q", got)
		}
		if joiner.LeaderID() != "seed" {
			return fmt.Errorf("joiner sees leader %q", joiner.LeaderID())
		}
		return nil
	})
	if !joiner.HasState() {
		t.Fatal("joiner has no state after replication")
	}
}

func TestNoLeaderAnswersPromptly(t *testing.T) {
	t.Parallel()
	// Bootstrapped with an unreachable second voter: no quorum, no leader.
	o := baseOptions(t, "lonely")
	o.Peers = map[string]string{"lonely": o.Listener.Addr().String(), "zz-ghost": "127.0.0.1:1"}
	n := startNode(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := n.ApplyBytes(ctx, []byte("x")); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("Apply without a leader: %v", err)
	}
	if err := n.LinearizableRead(ctx); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("LinearizableRead without a leader: %v", err)
	}
	if err := n.Barrier(ctx); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("Barrier without a leader: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("answers without a leader took %s", took)
	}
}

// TestReplicatesWithoutPipelining: with DisablePipeline raft replicates one
// AppendEntries at a time, and every entry still reaches every node.
func TestReplicatesWithoutPipelining(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, []string{"a", "b", "c"}, func(o *Options) { o.DisablePipeline = true })
	waitLeader(t, nodes...)
	applyCluster(t, nodes, "w", 20)
	waitApplied(t, 20, nodes...)
}
