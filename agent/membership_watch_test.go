package agent

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	dto "github.com/prometheus/client_model/go"

	"github.com/clusteragent/agent/discovery"
	"github.com/clusteragent/agent/internal/clock"
)

func TestForwardToReconcile(t *testing.T) {
	t.Parallel()
	srv := discovery.Event{Type: discovery.EventJoin, Member: server("n2", "10.0.0.2:7000", discovery.StatusAlive)}
	client := srv
	client.Member.Meta.Role = discovery.RoleClient
	cases := map[string]struct {
		ev       discovery.Event
		isLeader bool
		want     bool
	}{
		"server event on the leader": {ev: srv, isLeader: true, want: true},
		"server event on a follower": {ev: srv, isLeader: false, want: false},
		"client event on the leader": {ev: client, isLeader: true, want: false},
		"client event on a follower": {ev: client, isLeader: false, want: false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := forwardToReconcile(tc.ev, tc.isLeader); got != tc.want {
				t.Errorf("forwardToReconcile = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestMemberWatcher: server events reach the reconcile queue on the leader
// only, a full queue drops (and counts) instead of blocking gossip, and the
// metadata sync runs on the injected clock's ticks.
func TestMemberWatcher(t *testing.T) {
	t.Parallel()
	events := make(chan discovery.Event)
	queue, err := newReconcileQueue(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	var leader atomic.Bool
	var syncs atomic.Int32
	fake := clock.NewFake(time.Unix(0, 0))
	w := &memberWatcher{events: events, isLeader: leader.Load, queue: queue, syncMeta: func() { syncs.Add(1) },
		clock: fake, interval: time.Second, logger: hclog.NewNullLogger()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	ev := discovery.Event{Type: discovery.EventJoin, Member: server("n2", "10.0.0.2:7000", discovery.StatusAlive)}
	events <- ev // a follower does not queue
	clientEv := ev
	clientEv.Member.Meta.Role = discovery.RoleClient
	events <- clientEv // taken once the first event was handled; never queued
	leader.Store(true)
	events <- ev // queued
	events <- ev // the queue is full: dropped, and the send did not block
	events <- ev // dropped too
	deadline := time.Now().Add(5 * time.Second)
	for syncs.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no metadata sync after advancing the clock")
		}
		fake.Advance(time.Second) // the ticker may not exist yet: keep advancing
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	// Run has returned, so every event it took has been handled.
	if got := len(queue.ch); got != 1 {
		t.Errorf("%d events queued, want 1", got)
	}
	var m dto.Metric
	if err := queue.dropped.Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetCounter().GetValue(); got != 2 {
		t.Errorf("agent_reconcile_dropped_total = %v, want 2", got)
	}
}

func TestMetaSyncInterval(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		server bool
		want   time.Duration
	}{
		"server follows Raft every reconcile interval": {server: true, want: time.Second},
		"gossip-only member has no timer":              {server: false, want: 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := metaSyncInterval(tc.server, time.Second); got != tc.want {
				t.Errorf("metaSyncInterval(%v) = %v, want %v", tc.server, got, tc.want)
			}
		})
	}
}

// newTickerCounter counts the tickers a clock makes.
type newTickerCounter struct {
	*clock.Fake
	made atomic.Int32
}

func (c *newTickerCounter) NewTicker(d time.Duration) clock.Ticker {
	c.made.Add(1)
	return c.Fake.NewTicker(d)
}

// TestMemberWatcherNoInterval: with interval 0 (a gossip-only member) the
// watcher still handles events but makes no ticker and never syncs.
func TestMemberWatcherNoInterval(t *testing.T) {
	t.Parallel()
	events := make(chan discovery.Event)
	queue, err := newReconcileQueue(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	var syncs atomic.Int32
	clk := &newTickerCounter{Fake: clock.NewFake(time.Unix(0, 0))}
	w := &memberWatcher{events: events, isLeader: func() bool { return false }, queue: queue,
		syncMeta: func() { syncs.Add(1) }, clock: clk, logger: hclog.NewNullLogger()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	ev := discovery.Event{Type: discovery.EventJoin, Member: server("n2", "10.0.0.2:7000", discovery.StatusAlive)}
	events <- ev
	events <- ev // taken only once the first was handled: Run is in its loop
	clk.Advance(time.Hour)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if n := clk.made.Load(); n != 0 {
		t.Errorf("%d tickers made, want 0", n)
	}
	if n := syncs.Load(); n != 0 {
		t.Errorf("%d metadata syncs, want 0", n)
	}
}
