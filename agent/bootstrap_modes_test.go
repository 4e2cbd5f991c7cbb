package agent_test

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/internal/testutil"
)

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func TestSingleNodePeerSetBootstrapsAlone(t *testing.T) {
	port := testutil.FreePorts(t, 1)[0]
	cfg := agenttest.Config(t, "solo")
	cfg.Ports.Raft = port
	cfg.Peers = map[string]string{"solo": loopback(port)}
	n := agenttest.Start(t, cfg)
	agenttest.WaitForConfig(t, formTimeout, []*agenttest.Node{n}, []string{"solo"}, nil)
	sameClusterID(t, []*agenttest.Node{n})
}

func TestStaticPeersLowestIDBootstrapsAll(t *testing.T) {
	ports := testutil.FreePorts(t, 6)
	peers := map[string]string{}
	for i := 0; i < 3; i++ {
		peers[fmt.Sprintf("p%d", i+1)] = loopback(ports[i])
	}
	var nodes []*agenttest.Node
	for i := 0; i < 3; i++ {
		cfg := agenttest.Config(t, fmt.Sprintf("p%d", i+1))
		cfg.Ports.Raft, cfg.Ports.Gossip = ports[i], ports[3+i]
		cfg.Peers = peers
		cfg.Join = []string{loopback(ports[3])}
		nodes = append(nodes, agenttest.Start(t, cfg))
	}
	agenttest.WaitForConfig(t, formTimeout, nodes, []string{"p1", "p2", "p3"}, nil)
	sameClusterID(t, nodes)
	// Only the lowest ID bootstrapped: the others received the configuration
	// from it, so their first log entry came over the wire. All three agree.
	for _, n := range nodes {
		got, err := n.Servers()
		if err != nil || len(got) != 3 {
			t.Fatalf("%s sees %v (%v)", n.ID, got, err)
		}
	}
}

func TestPreferredBootstrapAndJoinOnly(t *testing.T) {
	cfg := agenttest.Config(t, "boot")
	cfg.BootstrapPreferred = true
	boot := agenttest.Start(t, cfg)
	agenttest.WaitForConfig(t, formTimeout, []*agenttest.Node{boot}, []string{"boot"}, nil)

	j1 := joinNode(t, "j1", boot.GossipAddr(), func(c *agent.Config) { c.NoBootstrap = true })
	j2 := joinNode(t, "j2", boot.GossipAddr(), nil) // only -join: join-only too
	all := []*agenttest.Node{boot, j1, j2}
	agenttest.WaitForConfig(t, formTimeout, all, []string{"boot", "j1", "j2"}, nil)
	sameClusterID(t, all)
}

func TestJoinOnlyNeverBootstrapsWhileSeedsAreAway(t *testing.T) {
	dead := testutil.FreePorts(t, 1)[0] // nothing listens here
	n := joinNode(t, "lonely", loopback(dead), nil)
	testutil.Never(t, 3*time.Second, func() error {
		if n.Raft().HasState() || n.Agent.ClusterID() != "" {
			return fmt.Errorf("join-only node bootstrapped (state %v, cluster %q)", n.Raft().HasState(), n.Agent.ClusterID())
		}
		return nil
	})
}

func TestRestartWithStateNeverBootstrapsAgain(t *testing.T) {
	nodes := startExpectCluster(t, 3, nil)
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	id := sameClusterID(t, nodes)
	waitSameApplied(t, nodes)
	for _, n := range nodes {
		n.Kill()
	}
	for _, n := range nodes {
		n.Restart()
	}
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	if got := sameClusterID(t, nodes); got != id {
		t.Fatalf("cluster ID changed across restart: %s -> %s", id, got)
	}
	waitSameApplied(t, nodes)
}

func TestTwoClustersGossipingTogetherNeverMerge(t *testing.T) {
	mk := func(id string) *agenttest.Node {
		cfg := agenttest.Config(t, id)
		cfg.BootstrapPreferred = true
		n := agenttest.Start(t, cfg)
		agenttest.WaitForConfig(t, formTimeout, []*agenttest.Node{n}, []string{id}, nil)
		sameClusterID(t, []*agenttest.Node{n})
		return n
	}
	a, b := mk("alpha"), mk("beta")
	if a.Agent.ClusterID() == b.Agent.ClusterID() {
		t.Fatal("two bootstraps chose the same cluster ID")
	}
	// Point beta's gossip at alpha: the pools must refuse each other.
	if _, err := b.Agent.Gossip().Join([]string{a.GossipAddr()}); err == nil {
		t.Log("gossip join was answered; membership must still stay apart")
	}
	testutil.Never(t, 3*time.Second, func() error {
		for _, pair := range [][2]*agenttest.Node{{a, b}, {b, a}} {
			if _, ok := pair[0].Agent.Gossip().Member(pair[1].ID); ok {
				return fmt.Errorf("%s lists %s as a member", pair[0].ID, pair[1].ID)
			}
			got, err := pair[0].Servers()
			if err != nil || len(got) != 1 {
				return fmt.Errorf("%s configuration %v (%v)", pair[0].ID, got, err)
			}
		}
		return nil
	})
}
