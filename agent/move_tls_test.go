package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/discovery"
	"github.com/clusteragent/agent/internal/testutil"
)

// TestMovedIDWithWrongCertificateIsRefused: a dead server's ID, claimed at
// a new address by an agent whose certificate lacks the allowed name (with
// the cluster's own ID in its data dir, so gossip admits it and Raft's
// by-ID lookup trusts its address), takes the name in gossip but gets
// nothing else: the configuration keeps the old address and the impostor
// never receives Raft state, because every Raft and agent call to it is
// refused at the mutual-TLS handshake. The genuine server, back with its
// data at another address, is then a voter there.
func TestMovedIDWithWrongCertificateIsRefused(t *testing.T) {
	ca := testutil.NewTestCA(t)
	allowed := []string{"*.servers.example"}
	nodes := startExpectCluster(t, 3, func(c *agent.Config) {
		certPEM, keyPEM := issue(t, ca, c.NodeID, 0, c.NodeID+".servers.example")
		tlsFiles(t, c, ca, certPEM, keyPEM)
		c.TLS.ServerNames = allowed
		// The server moves: see raftnode.Options.DisablePipeline.
		c.Tuning.RaftDisablePipeline = true
	})
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	clusterID := sameClusterID(t, nodes)
	victim, oldAddr := nodes[2], nodes[2].Raft().Addr()
	victim.Kill()
	live := nodes[:2]

	impostor := joinNode(t, victim.ID, live[0].GossipAddr(), func(c *agent.Config) {
		certPEM, keyPEM := issue(t, ca, c.NodeID, 0, c.NodeID+".other.example")
		tlsFiles(t, c, ca, certPEM, keyPEM)
		c.TLS.ServerNames = allowed
		if err := os.WriteFile(filepath.Join(c.DataDir, "cluster-id"), []byte(clusterID+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	testutil.WaitFor(t, formTimeout, func() error {
		m, ok := live[0].Agent.Gossip().Member(victim.ID)
		if !ok || m.Status != discovery.StatusAlive || m.Meta.RaftAddr != impostor.Raft().Addr() {
			return fmt.Errorf("gossip has %s as %+v, want alive at the impostor's address", victim.ID, m)
		}
		return nil
	})
	neverAdmitted(t, impostor, live, victim.ID, oldAddr)

	// The genuine server, back with its data and certificate at yet
	// another address, takes its place again.
	impostor.Kill()
	cfg := victim.Config
	cfg.Ports.Gossip, cfg.Ports.Raft, cfg.HTTP.Addr = 0, 0, "127.0.0.1:0"
	back := agenttest.Start(t, cfg)
	testutil.WaitFor(t, formTimeout, func() error {
		conf, err := live[0].Agent.Node().GetConfiguration(t.Context())
		if err != nil {
			return err
		}
		for _, s := range conf.Servers {
			if s.ID == victim.ID && s.Address == back.Raft().Addr() && s.Suffrage == "voter" {
				return nil
			}
		}
		return fmt.Errorf("configuration %+v, want %s a voter at %s", conf.Servers, victim.ID, back.Raft().Addr())
	})
}

// neverAdmitted checks for a while that impostor gets no Raft state and
// that no live node rewrites id's address away from oldAddr.
func neverAdmitted(t *testing.T, impostor *agenttest.Node, live []*agenttest.Node, id, oldAddr string) {
	t.Helper()
	testutil.Never(t, 3*time.Second, func() error {
		if impostor.Raft().HasState() {
			return fmt.Errorf("the impostor received raft state")
		}
		for _, n := range live {
			conf, err := n.Agent.Node().GetConfiguration(t.Context())
			if err != nil {
				continue
			}
			for _, s := range conf.Servers {
				if s.ID == id && s.Address != oldAddr {
					return fmt.Errorf("%s rewrote %s's address to %s", n.ID, id, s.Address)
				}
			}
		}
		return nil
	})

}
