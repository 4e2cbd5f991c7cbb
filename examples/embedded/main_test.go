package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/internal/testutil"
	"github.com/clusteragent/agent/raftnode"
	"github.com/clusteragent/agent/raftnode/command"
)

// startNode runs start, the program's own setup, on loopback with every
// port picked by the kernel and the loopback profile's fast timers.
func startNode(t *testing.T, id string, mutate func(*agent.Config)) *app {
	t.Helper()
	cfg := agent.LoopbackConfig(id, t.TempDir())
	mutate(&cfg)
	logger := hclog.New(&hclog.LoggerOptions{Name: id, Level: hclog.Warn, Output: testutil.LogWriter(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := start(ctx, cfg, logger)
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	t.Cleanup(func() {
		if err := a.agent.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown %s: %v", id, err)
		}
	})
	return a
}

// suffrages is the Raft configuration as the leader among nodes sees it:
// ID to "voter" or "nonvoter".
func suffrages(nodes []*app) (map[string]string, error) {
	for _, n := range nodes {
		if !n.agent.Node().IsLeader() {
			continue
		}
		conf, err := n.agent.Node().GetConfiguration(context.Background())
		if err != nil {
			return nil, err
		}
		out := map[string]string{}
		for _, s := range conf.Servers {
			out[s.ID] = s.Suffrage
		}
		return out, nil
	}
	return nil, errors.New("no leader among the running nodes")
}

func waitSuffrages(t *testing.T, nodes []*app, want map[string]string) {
	t.Helper()
	testutil.WaitFor(t, 60*time.Second, func() error {
		got, err := suffrages(nodes)
		if err != nil {
			return err
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("raft configuration %v, want %v", got, want)
		}
		return nil
	})
}

// setEverywhere writes one register from each node, follower or leader.
// A set is idempotent, so a write whose outcome a leadership change left
// unknown is simply sent again.
func setEverywhere(t *testing.T, nodes []*app, round string) {
	t.Helper()
	for _, n := range nodes {
		name, value := n.agent.NodeID()+"-"+round, "from "+n.agent.NodeID()
		testutil.WaitFor(t, 30*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return n.Set(ctx, name, value)
		})
	}
}

// readEverywhere reads every register written in round on every node,
// linearizably: no waiting for replication, the read itself must see them.
func readEverywhere(t *testing.T, nodes []*app, writers []string, round string) {
	t.Helper()
	for _, n := range nodes {
		for _, w := range writers {
			var v string
			var ok bool
			testutil.WaitFor(t, 30*time.Second, func() (err error) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				// Only a failed read is retried (leadership moved); a read
				// that answers must already hold the value.
				v, ok, err = n.Get(ctx, w+"-"+round, false)
				return err
			})
			if want := "from " + w; !ok || v != want {
				t.Fatalf("linearizable read of %s-%s on %s: %q (set %v), want %q", w, round, n.agent.NodeID(), v, ok, want)
			}
		}
	}
}

func TestThreeNodesEmbedTheAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node test")
	}
	// n1 forms the cluster; n2 and n3 only know n1's gossip address and
	// wait to be added: they enter as non-voters and autopilot promotes
	// them once they have been healthy for server_stabilization_time.
	n1 := startNode(t, "n1", func(c *agent.Config) { c.BootstrapExpect = 1 })
	seed := []string{n1.agent.GossipAddr()}
	n2 := startNode(t, "n2", func(c *agent.Config) { c.Join = seed })
	n3 := startNode(t, "n3", func(c *agent.Config) { c.Join = seed })
	nodes := []*app{n1, n2, n3}
	waitSuffrages(t, nodes, map[string]string{"n1": "voter", "n2": "voter", "n3": "voter"})

	setEverywhere(t, nodes, "before")
	readEverywhere(t, nodes, []string{"n1", "n2", "n3"}, "before")

	// Kill a follower (no leave): it is dead in gossip, and autopilot
	// removes it from Raft after dead_server_reap_after.
	var victim *app
	for _, n := range nodes {
		if !n.agent.Node().IsLeader() {
			victim = n
			break
		}
	}
	victim.agent.Kill()
	var alive []*app
	for _, n := range nodes {
		if n != victim {
			alive = append(alive, n)
		}
	}
	want := map[string]string{}
	for _, n := range alive {
		want[n.agent.NodeID()] = "voter"
	}
	waitSuffrages(t, alive, want)

	setEverywhere(t, alive, "after")
	readEverywhere(t, alive, []string{alive[0].agent.NodeID(), alive[1].agent.NodeID()}, "after")
	checkCAS(t, alive)
}

// checkCAS shows the state machine's refusal travelling back from the
// leader to a follower that proposed it.
func checkCAS(t *testing.T, nodes []*app) {
	t.Helper()
	for _, n := range nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := n.CAS(ctx, "cas-"+n.agent.NodeID(), "not-there", "x")
		cancel()
		if !errors.Is(err, raftnode.ErrFSM) || !strings.Contains(err.Error(), errCASFailed.Error()) {
			t.Fatalf("failing CAS on %s (leader %v): %v, want ErrFSM with %q", n.agent.NodeID(), n.agent.Node().IsLeader(), err, errCASFailed)
		}
	}
}

func TestApplyRefusesBadInput(t *testing.T) {
	n := startNode(t, "solo", func(c *agent.Config) { c.BootstrapExpect = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Set(ctx, "", "v"); !errors.Is(err, errInvalid) {
		t.Fatalf("set without a name: %v, want errInvalid", err)
	}
	big := command.Mutation{Type: mutSet, Payload: make([]byte, agent.MaxMutationBytes)}
	if _, err := n.agent.Apply(ctx, big); !errors.Is(err, agent.ErrMutationTooLarge) {
		t.Fatalf("oversized mutation: %v, want ErrMutationTooLarge", err)
	}
	if _, err := n.agent.Apply(ctx, command.Mutation{}); !errors.Is(err, command.ErrInvalidMutation) {
		t.Fatalf("mutation without a type: %v, want ErrInvalidMutation", err)
	}
	if _, ok, err := n.Get(ctx, "never-set", false); err != nil || ok {
		t.Fatalf("read of an unset register: ok=%v err=%v", ok, err)
	}
}

func TestRegistersSnapshotRestore(t *testing.T) {
	r := newRegisters()
	for i, c := range []setCmd{{"a", "1"}, {"b", "2"}, {"a", "3"}} {
		m, _ := command.NewMutation(mutSet, c)
		b, _ := m.Encode()
		if res := r.Apply(&raft.Log{Index: uint64(i + 1), Data: b}); res != nil {
			t.Fatalf("apply %d: %v", i, res)
		}
	}
	snap, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	restored := newRegisters()
	if err := restored.Restore(io.NopCloser(strings.NewReader(sink.String()))); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a": "3", "b": "2"} {
		if got, ok := restored.Get(name); !ok || got != want {
			t.Fatalf("restored %s = %q (%v), want %q", name, got, ok, want)
		}
	}
	if err := restored.Restore(io.NopCloser(strings.NewReader("{not json"))); err == nil {
		t.Fatal("restoring garbage succeeded")
	}
}

// memSink is an in-memory raft.SnapshotSink.
type memSink struct{ strings.Builder }

func (*memSink) ID() string    { return "mem" }
func (*memSink) Cancel() error { return nil }
func (*memSink) Close() error  { return nil }
