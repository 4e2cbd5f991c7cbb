package agent_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/discovery"
	"github.com/clusteragent/agent/internal/testutil"
)

func TestGossipOnlyMemberNeverEntersRaft(t *testing.T) {
	nodes := startExpectCluster(t, 3, nil)
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	client := joinNode(t, "client1", nodes[0].GossipAddr(), func(c *agent.Config) { c.Server = false })
	if client.Raft() != nil {
		t.Fatal("a gossip-only member opened Raft")
	}
	// Every server sees it in gossip as an alive client...
	testutil.WaitFor(t, formTimeout, func() error {
		for _, n := range nodes {
			m, ok := n.Agent.Gossip().Member("client1")
			if !ok || m.Status != discovery.StatusAlive || m.Meta.Role != discovery.RoleClient {
				return fmt.Errorf("%s sees client1 as %+v (known %v)", n.ID, m, ok)
			}
		}
		return nil
	})
	// ...and it adopts nothing from Raft, while the configuration stays the
	// three servers through several reconcile rounds.
	testutil.Never(t, 2*time.Second, func() error {
		voters, nonvoters, err := agenttest.CountVoters(nodes)
		if err != nil {
			return nil // leadership may move; the point is what the leader lists
		}
		if slices.Contains(voters, "client1") || slices.Contains(nonvoters, "client1") {
			return fmt.Errorf("client1 entered raft: voters %v non-voters %v", voters, nonvoters)
		}
		return nil
	})
}

func TestKnownIDAtNewAddressKeepsItsPlace(t *testing.T) {
	// Moving a follower makes the leader update its address while a send
	// to the old one fails; see raftnode.Options.DisablePipeline.
	nodes := startExpectCluster(t, 3, func(c *agent.Config) { c.Tuning.RaftDisablePipeline = true })
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	waitSameApplied(t, nodes)
	f := followerOf(t, nodes)
	old := f.Raft().Addr()
	f.Kill()
	f.Config.Ports.Raft = testutil.FreePorts(t, 1)[0] // comes back elsewhere
	f.Restart()
	// Still a voter, same ID, new address: updated in place.
	testutil.WaitFor(t, formTimeout, func() error {
		l := agenttest.Leader(nodes...)
		if l == nil {
			return fmt.Errorf("no leader")
		}
		conf, err := l.Raft().GetConfiguration(t.Context())
		if err != nil {
			return err
		}
		for _, s := range conf.Servers {
			if s.ID == f.ID {
				if s.Address == old || s.Address != f.Raft().Addr() || s.Suffrage != "voter" {
					return fmt.Errorf("%s listed as %s %s; want voter at %s (was %s)", f.ID, s.Suffrage, s.Address, f.Raft().Addr(), old)
				}
				return nil
			}
		}
		return fmt.Errorf("%s missing from %+v", f.ID, conf.Servers)
	})
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	waitSameApplied(t, nodes)
}

func TestMutualTLSCluster(t *testing.T) {
	ca := testutil.NewTestCA(t)
	withTLS := func(c *agent.Config) {
		c.TLS.Enable = true
		c.TLS.CAFile, c.TLS.CertFile, c.TLS.KeyFile = ca.NodeFiles(t, c.NodeID)
	}
	// Bootstrap's peer checks, autopilot's stats and Raft all go over
	// mutual TLS on the Raft port.
	nodes := startExpectCluster(t, 3, withTLS)
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	n4 := joinNode(t, "n4", nodes[0].GossipAddr(), withTLS)
	all := append(nodes, n4)
	agenttest.WaitForConfig(t, formTimeout, all, ids(all...), nil)
	waitSameApplied(t, all)

	// A server whose certificate comes from another CA gossips its way in
	// but is never added to Raft and never receives state.
	other := testutil.NewTestCA(t)
	rogue := joinNode(t, "rogue", nodes[0].GossipAddr(), func(c *agent.Config) {
		c.TLS.Enable = true
		c.TLS.CAFile, c.TLS.CertFile, c.TLS.KeyFile = other.NodeFiles(t, c.NodeID)
	})
	// A server whose certificate from the right CA has expired refuses to
	// start at all, naming the file, rather than knocking on the cluster.
	expiredCfg := agenttest.Config(t, "expired")
	expiredCfg.Join = []string{nodes[0].GossipAddr()}
	expiredCfg.TLS.Enable = true
	expiredCfg.TLS.CAFile, expiredCfg.TLS.CertFile, expiredCfg.TLS.KeyFile = ca.NodeFilesValidity(t, "expired", time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))
	if _, err := agenttest.TryStart(t, expiredCfg); err == nil || !strings.Contains(err.Error(), "expired") || !strings.Contains(err.Error(), "expired.pem") {
		t.Fatalf("agent with an expired certificate started, or the error does not say why: %v", err)
	}
	testutil.WaitFor(t, formTimeout, func() error {
		if _, ok := nodes[0].Agent.Gossip().Member("rogue"); !ok {
			return fmt.Errorf("rogue not yet in gossip")
		}
		return nil
	})
	testutil.Never(t, 3*time.Second, func() error {
		for _, n := range []*agenttest.Node{rogue} {
			if n.Raft().HasState() {
				return fmt.Errorf("%s received raft state", n.ID)
			}
			voters, nonvoters, err := agenttest.CountVoters(all)
			if err == nil && (slices.Contains(voters, n.ID) || slices.Contains(nonvoters, n.ID)) {
				return fmt.Errorf("%s entered the configuration: %v %v", n.ID, voters, nonvoters)
			}
		}
		return nil
	})
}
