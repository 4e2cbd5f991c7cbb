package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/internal/testutil"
	"github.com/clusteragent/agent/raftnode"
	"github.com/clusteragent/agent/raftnode/command"
)

// mapFSM is a minimal embedder's state machine: "t.set" {k, v} sets a
// key, "t.fail" is always refused.
type mapFSM struct {
	router *command.Router
	mu     sync.Mutex
	m      map[string]string
}

func newMapFSM() *mapFSM {
	f := &mapFSM{router: command.NewRouter(), m: map[string]string{}}
	f.router.Handle("t.set", func(_ uint64, p json.RawMessage) any {
		var kv struct{ K, V string }
		if err := json.Unmarshal(p, &kv); err != nil {
			return err
		}
		f.mu.Lock()
		f.m[kv.K] = kv.V
		f.mu.Unlock()
		return nil
	})
	f.router.Handle("t.fail", func(uint64, json.RawMessage) any { return errors.New("refused on purpose") })
	return f
}

func (f *mapFSM) get(k string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[k]
}

func (f *mapFSM) Apply(l *raft.Log) any               { return f.router.Apply(l) }
func (f *mapFSM) Snapshot() (raft.FSMSnapshot, error) { return noSnapshot{}, nil }
func (f *mapFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

type noSnapshot struct{}

func (noSnapshot) Persist(s raft.SnapshotSink) error { return s.Close() }
func (noSnapshot) Release()                          {}

func startEmbedded(t *testing.T, cfg agent.Config, fsm raft.FSM) *agent.Agent {
	t.Helper()
	logger := hclog.New(&hclog.LoggerOptions{Name: cfg.NodeID, Level: hclog.Warn, Output: testutil.LogWriter(t)})
	a, err := agent.New(cfg, logger, agent.WithFSM(fsm))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown(context.Background()) })
	return a
}

func TestEmbeddedFSMForwardsWithToken(t *testing.T) {
	const token = "embed-token"
	c1 := agenttest.Config(t, "e1")
	c1.BootstrapExpect, c1.HTTP.Token = 1, token
	f1 := newMapFSM()
	a1 := startEmbedded(t, c1, f1)
	c2 := agenttest.Config(t, "e2")
	c2.Join, c2.HTTP.Token = []string{a1.GossipAddr()}, token
	f2 := newMapFSM()
	a2 := startEmbedded(t, c2, f2)
	testutil.WaitFor(t, formTimeout, func() error {
		conf, err := a1.Node().GetConfiguration(context.Background())
		if err != nil || len(conf.Servers) != 2 || !a1.Node().IsLeader() {
			return fmt.Errorf("e1 leader=%v configuration %v (%v), want e1 leading two servers", a1.Node().IsLeader(), conf.Servers, err)
		}
		return nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	set, _ := command.NewMutation("t.set", map[string]string{"K": "k", "V": "from e2"})
	if _, err := a2.Apply(ctx, set); err != nil {
		t.Fatalf("apply on the follower: %v", err)
	}
	if err := a2.Read(ctx, false); err != nil {
		t.Fatalf("linearizable read on the follower: %v", err)
	}
	if got := f2.get("k"); got != "from e2" {
		t.Fatalf("follower's state after Read: %q, want %q", got, "from e2")
	}
	if err := a1.Read(ctx, false); err != nil || f1.get("k") != "from e2" {
		t.Fatalf("leader's read: %q, %v", f1.get("k"), err)
	}
	fail, _ := command.NewMutation("t.fail", nil)
	if _, err := a2.Apply(ctx, fail); !errors.Is(err, raftnode.ErrFSM) || !strings.Contains(err.Error(), "refused on purpose") {
		t.Fatalf("refused mutation from the follower: %v, want ErrFSM with the FSM's message", err)
	}
	checkKVRoutesOff(t, a1.HTTPAddr(), token)

	// A gossip-only member forwards writes too, but holds nothing to read.
	c3 := agenttest.Config(t, "e3")
	c3.Join, c3.HTTP.Token, c3.Server = []string{a1.GossipAddr()}, token, false
	a3 := startEmbedded(t, c3, newMapFSM())
	fromClient, _ := command.NewMutation("t.set", map[string]string{"K": "c", "V": "from e3"})
	testutil.WaitFor(t, formTimeout, func() error {
		// Retried only until e3's gossip knows the servers: before, it
		// knows no leader and Apply waits, bounded here.
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		defer acancel()
		_, err := a3.Apply(actx, fromClient)
		return err
	})
	if err := a1.Read(ctx, false); err != nil || f1.get("c") != "from e3" {
		t.Fatalf("leader's read of the gossip-only member's write: %q, %v", f1.get("c"), err)
	}
	if err := a3.Read(ctx, false); !errors.Is(err, agent.ErrNotServer) {
		t.Fatalf("Read on a gossip-only member: %v, want ErrNotServer", err)
	}

	if err := a2.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a2.Apply(ctx, set); !errors.Is(err, agent.ErrShutdown) {
		t.Fatalf("apply after shutdown: %v, want ErrShutdown", err)
	}
}

// checkKVRoutesOff: with a user FSM, the key/value and snapshot routes
// answer 400 with a message saying why.
func checkKVRoutesOff(t *testing.T, httpAddr, token string) {
	t.Helper()
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/kv/x"}, {"PUT", "/v1/kv/x"}, {"GET", "/v1/snapshot"}, {"PUT", "/v1/snapshot"},
	} {
		req, _ := http.NewRequest(r.method, "http://"+httpAddr+r.path, strings.NewReader("v"))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "state machine") {
			t.Errorf("%s %s: %d %s, want 400 naming the state machine", r.method, r.path, resp.StatusCode, body)
		}
	}
}

func TestEmbeddingRefusals(t *testing.T) {
	kvAgent, err := agent.New(agenttest.Config(t, "kv1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := command.NewMutation("t.set", nil)
	if _, err := kvAgent.Apply(context.Background(), m); !errors.Is(err, agent.ErrNoUserFSM) {
		t.Fatalf("Apply on a key/value agent: %v, want ErrNoUserFSM", err)
	}
	if err := kvAgent.Read(context.Background(), false); !errors.Is(err, agent.ErrNoUserFSM) {
		t.Fatalf("Read on a key/value agent: %v, want ErrNoUserFSM", err)
	}
	user, err := agent.New(agenttest.Config(t, "u1"), nil, agent.WithFSM(newMapFSM()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := user.Apply(context.Background(), m); !errors.Is(err, agent.ErrNotStarted) {
		t.Fatalf("Apply before Start: %v, want ErrNotStarted", err)
	}
	cfg := agenttest.Config(t, "u2")
	cfg.Snapshot.Interval = time.Minute
	if _, err := agent.New(cfg, nil, agent.WithFSM(newMapFSM())); err == nil || !strings.Contains(err.Error(), "snapshot.interval") {
		t.Fatalf("WithFSM with scheduled snapshots: %v, want an error naming snapshot.interval", err)
	}
	if _, err := agent.New(agenttest.Config(t, "u3"), nil, agent.WithFSM(nil)); err == nil {
		t.Fatal("WithFSM(nil) was accepted")
	}
}

// BenchmarkEmbeddedApplyRead measures Apply and a linearizable Read on the
// leader and on a follower (which forwards, and commits a marker to read).
func BenchmarkEmbeddedApplyRead(b *testing.B) {
	c1 := agenttest.Config(b, "b1")
	c1.BootstrapExpect = 1
	a1 := startEmbeddedB(b, c1)
	c2 := agenttest.Config(b, "b2")
	c2.Join = []string{a1.GossipAddr()}
	a2 := startEmbeddedB(b, c2)
	testutil.WaitFor(b, formTimeout, func() error {
		conf, err := a1.Node().GetConfiguration(context.Background())
		if err != nil || len(conf.Servers) != 2 || !a1.Node().IsLeader() {
			return fmt.Errorf("configuration %v (%v)", conf.Servers, err)
		}
		return nil
	})
	set, _ := command.NewMutation("t.set", map[string]string{"K": "k", "V": "v"})
	for _, bc := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"apply-leader", func(ctx context.Context) error { _, err := a1.Apply(ctx, set); return err }},
		{"apply-follower", func(ctx context.Context) error { _, err := a2.Apply(ctx, set); return err }},
		{"read-leader", func(ctx context.Context) error { return a1.Read(ctx, false) }},
		{"read-follower", func(ctx context.Context) error { return a2.Read(ctx, false) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := bc.run(ctx)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func startEmbeddedB(b *testing.B, cfg agent.Config) *agent.Agent {
	b.Helper()
	a, err := agent.New(cfg, nil, agent.WithFSM(newMapFSM()))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Shutdown(context.Background()) })
	return a
}
