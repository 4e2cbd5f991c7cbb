package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"go.uber.org/goleak"

	"github.com/clusteragent/agent/internal/testutil"
	"github.com/clusteragent/agent/raftnode"
)

// TestMain checks that Close leaves no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startCluster runs start, the program's own setup, for n servers on
// loopback. Each listener is opened first, so every server knows the whole
// static peer set before any of them starts.
func startCluster(t *testing.T, n int) []*server {
	t.Helper()
	peers := map[string]string{}
	lns := map[string]net.Listener{}
	for i := 1; i <= n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("n%d", i)
		peers[id], lns[id] = ln.Addr().String(), ln
	}
	var out []*server
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("n%d", i)
		cfg := config{NodeID: id, DataDir: t.TempDir(), Peers: peers, listener: lns[id], loopback: true}
		logger := hclog.New(&hclog.LoggerOptions{Name: id, Level: hclog.Warn, Output: testutil.LogWriter(t)})
		s, err := start(cfg, logger)
		if err != nil {
			t.Fatalf("start %s: %v", id, err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close %s: %v", id, err)
			}
		})
		out = append(out, s)
	}
	return out
}

// onLeader runs f on the current leader, again on a new one when
// leadership moves before f is done (which Raft allows at any time; every
// f here is idempotent).
func onLeader(t *testing.T, nodes []*server, f func(ctx context.Context, leader *server) error) {
	t.Helper()
	testutil.WaitFor(t, 30*time.Second, func() error {
		for _, n := range nodes {
			if n.node.IsLeader() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				return f(ctx, n)
			}
		}
		return errors.New("no leader")
	})
}

func TestThreeNodeStaticCluster(t *testing.T) {
	nodes := startCluster(t, 3)
	for _, svc := range []Service{{"api", "10.0.0.1:80"}, {"db", "10.0.0.2:5432"}, {"cache", "10.0.0.3:6379"}} {
		onLeader(t, nodes, func(ctx context.Context, l *server) error { return l.Register(ctx, svc) })
	}
	onLeader(t, nodes, func(ctx context.Context, l *server) error { return l.Deregister(ctx, "cache") })
	onLeader(t, nodes, func(ctx context.Context, l *server) error {
		if err := l.Register(ctx, Service{Name: "broken"}); !errors.Is(err, errInvalidService) {
			t.Fatalf("register without addr: got %v, want errInvalidService", err)
		}
		return nil
	})
	want := []Service{{"api", "10.0.0.1:80"}, {"db", "10.0.0.2:5432"}}
	onLeader(t, nodes, func(ctx context.Context, l *server) error {
		got, err := l.Services(ctx)
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			t.Fatalf("linearizable read on the leader: %v, want %v", got, want)
		}
		return nil
	})
	// A follower refuses writes and linearizable reads, naming the leader
	// (the write is a harmless deregister, in case it became the leader);
	// its stale view catches up by replication.
	for _, n := range nodes {
		if n.node.IsLeader() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		werr := n.Deregister(ctx, "never-registered")
		_, rerr := n.Services(ctx)
		cancel()
		var nl *raftnode.NotLeaderError
		if (!errors.As(werr, &nl) || !errors.Is(rerr, raftnode.ErrNotLeader)) && !n.node.IsLeader() {
			t.Fatalf("follower %s: write %v, read %v; want *NotLeaderError for both", n.node.NodeID(), werr, rerr)
		}
	}
	testutil.WaitFor(t, 10*time.Second, func() error {
		for _, n := range nodes {
			if got := n.registry.Services(); !slices.Equal(got, want) {
				return fmt.Errorf("%s has %v, want %v", n.node.NodeID(), got, want)
			}
		}
		return nil
	})
}

func TestRegistrySnapshotRestore(t *testing.T) {
	r := newRegistry(hclog.NewNullLogger())
	for i, typ := range []string{mutRegister, mutRegister, mutDeregister} {
		m, _ := raftnode.NewMutation(typ, Service{Name: []string{"a", "b", "a"}[i], Addr: "h:1"})
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
	restored := newRegistry(hclog.NewNullLogger())
	if err := restored.Restore(io.NopCloser(strings.NewReader(sink.String()))); err != nil {
		t.Fatal(err)
	}
	if got, want := restored.Services(), []Service{{"b", "h:1"}}; !slices.Equal(got, want) {
		t.Fatalf("restored %v, want %v", got, want)
	}
	if err := restored.Restore(io.NopCloser(strings.NewReader("{not json"))); err == nil {
		t.Fatal("restoring garbage succeeded")
	}
}

func TestParseFlags(t *testing.T) {
	cases := map[string]struct {
		args    []string
		wantErr string
	}{
		"missing node id":   {nil, "-node-id is required"},
		"peer without addr": {[]string{"-node-id", "a", "-peer", "a"}, "is not ID=HOST:PORT"},
		"peer without port": {[]string{"-node-id", "a", "-peer", "a=h"}, "missing port"},
		"self not a peer":   {[]string{"-node-id", "a", "-peer", "b=h:1"}, "does not name this node"},
		"stray argument":    {[]string{"-node-id", "a", "extra"}, `unexpected argument "extra"`},
		"unknown flag":      {[]string{"-nope"}, "flag provided but not defined"},
		"defaults are set":  {[]string{"-node-id", "a", "-peer", "a=h:1", "-peer", "b=h:2"}, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg, err := parseFlags(tc.args, io.Discard)
			if tc.wantErr == "" {
				if err != nil || cfg.DataDir != "data-a" || len(cfg.Peers) != 2 {
					t.Fatalf("got %+v, %v", cfg, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	if code := run([]string{"-h"}, io.Discard); code != 0 {
		t.Fatalf("-h exits %d, want 0", code)
	}
	if code := run([]string{"-nope"}, io.Discard); code != 2 {
		t.Fatalf("a bad flag exits %d, want 2", code)
	}
}

// memSink is an in-memory raft.SnapshotSink.
type memSink struct{ strings.Builder }

func (*memSink) ID() string    { return "mem" }
func (*memSink) Cancel() error { return nil }
func (*memSink) Close() error  { return nil }
