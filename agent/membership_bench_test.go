package agent_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/agent/kv"
	"github.com/clusteragent/agent/internal/testutil"
)

// lanConfig is a production configuration (LAN gossip profile, Raft
// multiplier 1, default reconcile timers) on loopback, with the two delays
// the measurements are quoted for: 1s stabilization and a 5s reap delay.
func lanConfig(b testing.TB, id string) agent.Config {
	c := agent.DefaultConfig()
	c.NodeID = id
	c.DataDir = b.TempDir()
	c.Bind, c.Advertise = "127.0.0.1", "127.0.0.1"
	c.Ports = agent.PortsConfig{}
	c.HTTP.Addr = "127.0.0.1:0"
	c.Autopilot.ServerStabilizationTime = time.Second
	c.Autopilot.DeadServerReapAfter = 5 * time.Second
	return c
}

// BenchmarkMembershipTimings measures, per iteration on a fresh three-server
// cluster with production timers: a new agent's time from start to
// non-voter and to voter, a killed follower's time to dead in gossip and to
// pruned from Raft, and the time from killing the leader to the first
// committed write on a new leader. Run with: make bench-membership.
func BenchmarkMembershipTimings(b *testing.B) {
	var nonvoter, voter, dead, pruned, failover []time.Duration
	for i := 0; i < b.N; i++ {
		r := measureMembership(b)
		nonvoter, voter = append(nonvoter, r.nonvoter), append(voter, r.voter)
		dead, pruned = append(dead, r.dead), append(pruned, r.pruned)
		failover = append(failover, r.failover)
	}
	report := func(name string, ds []time.Duration) {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		b.ReportMetric(ds[len(ds)/2].Seconds(), name+"_p50_s")
		b.ReportMetric(ds[len(ds)-1].Seconds(), name+"_max_s")
	}
	report("start_to_nonvoter", nonvoter)
	report("start_to_voter", voter)
	report("kill_to_dead", dead)
	report("kill_to_pruned", pruned)
	report("leader_failover", failover)
}

type membershipTimes struct{ nonvoter, voter, dead, pruned, failover time.Duration }

func measureMembership(b *testing.B) membershipTimes {
	b.Helper()
	var r membershipTimes
	ports := testutil.FreePorts(b, 3)
	var seeds []string
	for _, p := range ports {
		seeds = append(seeds, net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	}
	nodes := make([]*agenttest.Node, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range nodes {
		cfg := lanConfig(b, fmt.Sprintf("m%d", i+1))
		cfg.Ports.Gossip, cfg.Join, cfg.BootstrapExpect = ports[i], seeds, 3
		wg.Add(1)
		go func() { defer wg.Done(); nodes[i], errs[i] = agenttest.TryStart(b, cfg) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	defer func() {
		for _, n := range nodes {
			n.Kill()
		}
	}()
	agenttest.WaitForConfig(b, time.Minute, nodes, ids(nodes...), nil)

	// A new agent: start to non-voter, start to voter.
	cfg := lanConfig(b, "m4")
	cfg.Join = []string{nodes[0].GossipAddr()}
	start := time.Now()
	n4 := agenttest.Start(b, cfg)
	defer n4.Kill()
	all := append(nodes, n4)
	r.nonvoter = timeUntil(b, start, func() bool { return hasServer(all, "m4", "") })
	r.voter = timeUntil(b, start, func() bool { return hasServer(all, "m4", "voter") })

	// A follower killed: dead in the leader's gossip, then pruned.
	victim := nodes[1]
	if victim.Raft().IsLeader() {
		victim = nodes[2]
	}
	victim.Kill()
	killed := time.Now()
	r.dead = timeUntil(b, killed, func() bool {
		l := agenttest.Leader(all...)
		if l == nil {
			return false
		}
		m, ok := l.Agent.Gossip().Member(victim.ID)
		return ok && m.Status == "dead"
	})
	r.pruned = timeUntil(b, killed, func() bool { return !hasServer(all, victim.ID, "") })

	// The leader killed: time to the first write committed by a new leader.
	old := agenttest.Leader(all...)
	old.Kill()
	killed = time.Now()
	r.failover = timeUntil(b, killed, func() bool {
		l := agenttest.Leader(all...)
		if l == nil {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		m, _ := kv.PutMutation("test/probe", []byte("x"), nil)
		_, err := l.Raft().Apply(ctx, m)
		return err == nil
	})
	return r
}

// hasServer reports whether the leader's configuration lists id (with the
// given suffrage, or any when suffrage is "").
func hasServer(nodes []*agenttest.Node, id, suffrage string) bool {
	l := agenttest.Leader(nodes...)
	if l == nil {
		return false
	}
	got, err := l.Servers()
	if err != nil {
		return false
	}
	if suffrage != "" {
		return slices.Contains(got, id+":"+suffrage)
	}
	return slices.Contains(got, id+":voter") || slices.Contains(got, id+":nonvoter")
}

// timeUntil polls cond every 10ms for up to a minute and returns the time
// since start when it first held.
func timeUntil(b *testing.B, start time.Time, cond func() bool) time.Duration {
	b.Helper()
	var at time.Duration
	testutil.WaitFor(b, time.Minute, func() error {
		if cond() {
			at = time.Since(start)
			return nil
		}
		return fmt.Errorf("not yet after %s", time.Since(start))
	})
	return at
}
