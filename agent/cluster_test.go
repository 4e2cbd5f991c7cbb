package agent_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/agent/kv"
	"github.com/clusteragent/agent/internal/testutil"
)

const formTimeout = 30 * time.Second

// startExpectCluster starts n agents with bootstrap_expect = n, all at the
// same moment, each given every node's gossip address as seeds.
func startExpectCluster(t *testing.T, n int, tweak func(*agent.Config)) []*agenttest.Node {
	t.Helper()
	ports := testutil.FreePorts(t, n)
	var seeds []string
	for _, p := range ports {
		seeds = append(seeds, net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	}
	cfgs := make([]agent.Config, n)
	for i := range cfgs {
		cfgs[i] = agenttest.Config(t, fmt.Sprintf("n%d", i+1))
		cfgs[i].Ports.Gossip = ports[i]
		cfgs[i].Join = seeds
		cfgs[i].BootstrapExpect = n
		if tweak != nil {
			tweak(&cfgs[i])
		}
	}
	nodes := make([]*agenttest.Node, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = agenttest.TryStart(t, cfgs[i])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return nodes
}

func ids(nodes ...*agenttest.Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.ID)
	}
	return out
}

// joinNode starts one more agent that knows only a seed.
func joinNode(t *testing.T, id, seed string, tweak func(*agent.Config)) *agenttest.Node {
	t.Helper()
	cfg := agenttest.Config(t, id)
	cfg.Join = []string{seed}
	if tweak != nil {
		tweak(&cfg)
	}
	return agenttest.Start(t, cfg)
}

// sameClusterID waits until every node carries one non-empty cluster ID.
func sameClusterID(t *testing.T, nodes []*agenttest.Node) string {
	t.Helper()
	var id string
	testutil.WaitFor(t, formTimeout, func() error {
		id = nodes[0].Agent.ClusterID()
		for _, n := range nodes {
			if got := n.Agent.ClusterID(); got == "" || got != id {
				return fmt.Errorf("%s has cluster ID %q, %s has %q", n.ID, got, nodes[0].ID, id)
			}
		}
		return nil
	})
	return id
}

func TestBootstrapExpectSimultaneousStarts(t *testing.T) {
	rounds := 10
	if testing.Short() {
		rounds = 2
	}
	for round := 0; round < rounds; round++ {
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			nodes := startExpectCluster(t, 3, nil)
			agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
			sameClusterID(t, nodes)
			// One cluster: every node lists the same three servers and
			// follows the same single leader.
			testutil.WaitFor(t, formTimeout, func() error {
				leaders, leaderIDs := 0, map[string]bool{}
				for _, n := range nodes {
					if n.Raft().IsLeader() {
						leaders++
					}
					leaderIDs[n.Raft().LeaderID()] = true
					got, err := n.Servers()
					if err != nil || len(got) != 3 {
						return fmt.Errorf("%s sees configuration %v (%v)", n.ID, got, err)
					}
				}
				if leaders != 1 || len(leaderIDs) != 1 {
					return fmt.Errorf("%d nodes claim leadership; leader IDs seen %v", leaders, leaderIDs)
				}
				return nil
			})
		})
	}
}

func TestNewServerJoinsAsNonVoterThenVoter(t *testing.T) {
	nodes := startExpectCluster(t, 3, nil)
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	n4 := joinNode(t, "n4", nodes[0].GossipAddr(), func(c *agent.Config) {
		c.Autopilot.ServerStabilizationTime = 3 * time.Second
	})
	all := append(nodes, n4)
	// First a non-voter...
	agenttest.WaitForConfig(t, formTimeout, all, ids(nodes...), []string{"n4"})
	// ...then promoted after stabilization.
	agenttest.WaitForConfig(t, formTimeout, all, ids(all...), nil)
	sameClusterID(t, all)
}

func TestMaxVotersKeepsNonVotersAndReplacesFailedVoter(t *testing.T) {
	capThree := func(c *agent.Config) { c.Autopilot.MaxVoters = 3 }
	nodes := startExpectCluster(t, 3, capThree)
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	n4 := joinNode(t, "n4", nodes[0].GossipAddr(), capThree)
	n5 := joinNode(t, "n5", nodes[1].GossipAddr(), capThree)
	all := append(nodes, n4, n5)
	agenttest.WaitForConfig(t, formTimeout, all, ids(nodes...), []string{"n4", "n5"})

	// Kill a voter that is not the leader: a non-voter takes its seat.
	var victim *agenttest.Node
	for _, n := range nodes {
		if !n.Raft().IsLeader() {
			victim = n
			break
		}
	}
	victim.Kill()
	testutil.WaitFor(t, formTimeout, func() error {
		voters, _, err := agenttest.CountVoters(all)
		if err != nil {
			return err
		}
		live := 0
		for _, v := range voters {
			if v != victim.ID {
				live++
			}
		}
		if live != 3 || slices.Contains(voters, victim.ID) {
			return fmt.Errorf("voters %v: want 3 live voters and %s demoted", voters, victim.ID)
		}
		return nil
	})
}

func TestDeadFollowerPrunedNeverBelowMinQuorumAndRejoins(t *testing.T) {
	nodes := startExpectCluster(t, 3, nil) // min_quorum defaults to 3
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	n4 := joinNode(t, "n4", nodes[0].GossipAddr(), nil)
	all := append(nodes, n4)
	agenttest.WaitForConfig(t, formTimeout, all, ids(all...), nil)

	follower := followerOf(t, all)
	follower.Kill()
	killed := time.Now()
	var rest []*agenttest.Node
	for _, n := range all {
		if n != follower {
			rest = append(rest, n)
		}
	}
	agenttest.WaitForConfig(t, formTimeout, rest, ids(rest...), nil)
	reap := follower.Config.Autopilot.DeadServerReapAfter
	if elapsed := time.Since(killed); elapsed < reap {
		t.Fatalf("pruned %s after %s, before dead_server_reap_after %s", follower.ID, elapsed, reap)
	}

	// A second death would go below min_quorum (3): it must not be pruned.
	second := followerOf(t, rest)
	second.Kill()
	testutil.Never(t, reap+3*time.Second, func() error {
		voters, _, err := agenttest.CountVoters(rest)
		if err == nil && len(voters) < 3 {
			return fmt.Errorf("voters %v: pruned below min_quorum 3", voters)
		}
		return nil
	})

	// The first one comes back with its data dir: added again, catches up.
	follower.Restart()
	second.Restart()
	agenttest.WaitForConfig(t, formTimeout, all, ids(all...), nil)
	waitSameApplied(t, all)
}

func TestGracefulLeaveAndLeaderReplacement(t *testing.T) {
	nodes := startExpectCluster(t, 3, nil)
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	n4 := joinNode(t, "n4", nodes[0].GossipAddr(), nil)
	n5 := joinNode(t, "n5", nodes[0].GossipAddr(), nil)
	all := append(nodes, n4, n5)
	agenttest.WaitForConfig(t, formTimeout, all, ids(all...), nil)

	// Graceful leave of a follower: removed within a couple of seconds.
	leaver := followerOf(t, all)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := leaver.Agent.Leave(ctx); err != nil {
		t.Fatalf("leave: %v", err)
	}
	var rest []*agenttest.Node
	for _, n := range all {
		if n != leaver {
			rest = append(rest, n)
		}
	}
	agenttest.WaitForConfig(t, 3*time.Second, rest, ids(rest...), nil)
	t.Logf("leave removed %s from raft in %s", leaver.ID, time.Since(start))

	// Kill the leader: a new one is elected and its autopilot prunes the old.
	old := agenttest.Leader(rest...)
	old.Kill()
	var survivors []*agenttest.Node
	for _, n := range rest {
		if n != old {
			survivors = append(survivors, n)
		}
	}
	agenttest.WaitForConfig(t, formTimeout, survivors, ids(survivors...), nil)
}

func followerOf(t *testing.T, nodes []*agenttest.Node) *agenttest.Node {
	t.Helper()
	for _, n := range nodes {
		if n.Running() && !n.Raft().IsLeader() {
			return n
		}
	}
	t.Fatal("no follower")
	return nil
}

// waitSameApplied writes through the leader and waits until every node has
// applied it.
func waitSameApplied(t *testing.T, nodes []*agenttest.Node) {
	t.Helper()
	var idx uint64
	testutil.WaitFor(t, formTimeout, func() error {
		l := agenttest.Leader(nodes...)
		if l == nil {
			return fmt.Errorf("no leader")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		m, _ := kv.PutMutation("test/probe", []byte("x"), nil)
		var err error
		idx, err = l.Raft().Apply(ctx, m)
		return err
	})
	testutil.WaitFor(t, formTimeout, func() error {
		for _, n := range nodes {
			if got := n.Raft().Status().AppliedIndex; got < idx {
				return fmt.Errorf("%s applied %d, want >= %d", n.ID, got, idx)
			}
		}
		return nil
	})
}
