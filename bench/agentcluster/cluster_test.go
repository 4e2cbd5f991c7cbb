package agentcluster

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/bench/load"
	"github.com/clusteragent/agent/internal/buildagent"
)

func TestRenderIsLoopbackHCL(t *testing.T) {
	nc := nodeConfig{ID: "n1", DataDir: "/d", GossipPort: 1, RaftPort: 2, HTTPPort: 3, Join: "127.0.0.1:1", BootstrapExpect: 3, LogStore: "boltdb",
		Configure: func(c *agent.Config) { c.Autopilot.ServerStabilizationTime = 2 * time.Second }}
	b, err := nc.render()
	if err != nil {
		t.Fatal(err)
	}
	// Alignment is the formatter's business; compare with single spaces.
	cfg := strings.Join(strings.Fields(string(b)), " ")
	for _, want := range []string{`node_id = "n1"`, `bind = "127.0.0.1"`, `advertise = "127.0.0.1"`, `join = ["127.0.0.1:1"]`,
		"bootstrap_expect = 3", `log_store = "boltdb"`, "gossip = 1", "raft = 2", `addr = "127.0.0.1:3"`,
		`server_stabilization_time = "2s"`} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(cfg, "server =") || strings.Contains(cfg, "enable_debug") {
		t.Errorf("config sets keys at their defaults:\n%s", b)
	}
}

// TestClusterServesKV builds the agent, starts three processes, and writes
// and reads through the leader with the benchmark's client.
func TestClusterServesKV(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent and starts three processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := buildagent.For(t, buildagent.Options{})
	t.Cleanup(func() { _ = buildagent.Cleanup() })
	dir := t.TempDir()
	c, err := Start(ctx, Options{Binary: bin, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		for _, n := range c.Nodes {
			if n.Exited() == nil {
				t.Errorf("%s still running after Close", n.ID)
			}
		}
	}()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.DataDir(leader)); err != nil {
		t.Errorf("leader's data dir: %v", err)
	}
	kc, err := NewKVClient(leader.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	if err := kc.Get(ctx, "absent"); err == nil {
		t.Error("GET of an absent key succeeded")
	}
	if err := kc.Put(ctx, load.PutKey(0, 0), load.Value(256)); err != nil {
		t.Fatal(err)
	}
	if err := kc.Get(ctx, load.PutKey(0, 0)); err != nil {
		t.Fatal(err)
	}
	// A follower forwards writes, so the client works against any node.
	for _, n := range c.Nodes {
		if n != leader {
			f, err := NewKVClient(n.URL)
			if err != nil {
				t.Fatal(err)
			}
			err = f.Put(ctx, "via-"+n.ID, []byte("x"))
			f.Close()
			if err != nil {
				t.Errorf("put via follower %s: %v", n.ID, err)
			}
		}
	}

	// kill -9 of the leader, then a restart with its data dir: the cluster
	// must become whole again, with the restarted node caught up.
	if err := c.Restart(leader); err == nil {
		t.Error("Restart of a running node succeeded")
	}
	if err := leader.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(c.Running()); got != 2 {
		t.Fatalf("%d nodes running after the kill, want 2", got)
	}
	if _, err := c.Whole(ctx); err == nil {
		t.Error("Whole with a voter down")
	}
	if err := c.Restart(leader); err != nil {
		t.Fatal(err)
	}
	st, err := c.WaitWhole(ctx, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "leader" || st.Term < 2 {
		t.Errorf("leader's status once whole: %+v; want a leader in a term after the first", st)
	}
	rs, err := NodeStatus(ctx, leader)
	if err != nil {
		t.Fatal(err)
	}
	if rs.AppliedIndex < st.CommitIndex {
		t.Errorf("restarted %s applied %d, leader committed %d", leader.ID, rs.AppliedIndex, st.CommitIndex)
	}
}
