package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// startNode runs start, the program's own setup, on loopback with port 0.
func startNode(t *testing.T, id string, bootstrap bool, join ...string) *server {
	t.Helper()
	cfg, err := parseFlags(append([]string{
		"-node-id", id, "-data-dir", t.TempDir(), "-raft-addr", "127.0.0.1:0", "-gossip-addr", "127.0.0.1:0",
		fmt.Sprintf("-bootstrap=%t", bootstrap),
	}, joinFlags(join)...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.loopback = true
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
	return s
}

func joinFlags(addrs []string) []string {
	var out []string
	for _, a := range addrs {
		out = append(out, "-join", a)
	}
	return out
}

func TestThreeNodeControlPlane(t *testing.T) {
	n1 := startNode(t, "n1", true)
	seed := n1.gossip.Addr()
	nodes := []*server{n1, startNode(t, "n2", false, seed), startNode(t, "n3", false, seed)}

	var leader *server
	testutil.WaitFor(t, 20*time.Second, func() error {
		leader = nil
		for _, n := range nodes {
			if n.node.IsLeader() {
				leader = n
			}
		}
		if leader == nil {
			return errors.New("no leader yet")
		}
		conf, err := leader.node.GetConfiguration(context.Background())
		if err != nil || len(conf.Servers) != 3 {
			return fmt.Errorf("leader configuration %v (%v), want 3 servers", conf.Servers, err)
		}
		return nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, svc := range []Service{{"api", "10.0.0.1:80"}, {"db", "10.0.0.2:5432"}, {"cache", "10.0.0.3:6379"}} {
		if err := leader.Register(ctx, svc); err != nil {
			t.Fatalf("register %s: %v", svc.Name, err)
		}
	}
	if err := leader.Deregister(ctx, "cache"); err != nil {
		t.Fatalf("deregister: %v", err)
	}
	if err := leader.Register(ctx, Service{Name: "broken"}); !errors.Is(err, errInvalidService) {
		t.Fatalf("register without addr: got %v, want errInvalidService", err)
	}
	for _, n := range nodes {
		if n != leader {
			if err := n.Register(ctx, Service{"x", "y:1"}); !errors.Is(err, raftnode.ErrNotLeader) {
				t.Fatalf("register on follower %s: got %v, want ErrNotLeader", n.node.NodeID(), err)
			}
		}
	}

	want := []Service{{"api", "10.0.0.1:80"}, {"db", "10.0.0.2:5432"}}
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
		"missing node id":  {nil, "-node-id is required"},
		"bad gossip addr":  {[]string{"-node-id", "a", "-gossip-addr", "localhost:1"}, "-gossip-addr"},
		"bad gossip port":  {[]string{"-node-id", "a", "-gossip-addr", "127.0.0.1:x"}, "-gossip-addr"},
		"stray argument":   {[]string{"-node-id", "a", "extra"}, `unexpected argument "extra"`},
		"unknown flag":     {[]string{"-nope"}, "flag provided but not defined"},
		"defaults are set": {[]string{"-node-id", "a", "-join", "x:1", "-join", "y:2"}, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg, err := parseFlags(tc.args, io.Discard)
			if tc.wantErr == "" {
				if err != nil || cfg.DataDir != "data-a" || len(cfg.Join) != 2 {
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
