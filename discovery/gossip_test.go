package discovery

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/clusteragent/agent/internal/testutil"
)

func TestThreeNodesJoinViaOneSeed(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	reg := prometheus.NewRegistry()
	a := c.start(c.config("a", func(cfg *Config) { cfg.Registerer = reg }))
	events := collectEvents(t, a)
	b := c.start(c.config("b", seeds(a.Addr())))
	cc := c.start(c.config("c", seeds(a.Addr())))

	waitStatuses(t, allAlive(a, b, cc), a, b, cc)

	for _, g := range []*Gossip{a, b, cc} {
		if !g.Joined() {
			t.Errorf("%s: Joined() = false after convergence", g.cfg.NodeID)
		}
		for _, peer := range []*Gossip{a, b, cc} {
			m, ok := g.Member(peer.cfg.NodeID)
			want := peer.LocalMeta()
			if !ok || m.Meta != want || m.Addr != peer.Addr() {
				t.Errorf("%s sees %s as %+v (found %v), want meta %+v at %s", g.cfg.NodeID, peer.cfg.NodeID, m, ok, want, peer.Addr())
			}
			if m.Since.IsZero() {
				t.Errorf("%s sees %s with zero Since", g.cfg.NodeID, peer.cfg.NodeID)
			}
		}
	}
	if lm := b.LocalMember(); lm.ID != b.cfg.NodeID || lm.Status != StatusAlive || lm.Addr != b.Addr() {
		t.Errorf("LocalMember = %+v", lm)
	}
	testutil.WaitFor(t, waitTimeout, func() error {
		if err := events.has(EventJoin, b.cfg.NodeID); err != nil {
			return err
		}
		return events.has(EventJoin, cc.cfg.NodeID)
	})
	checkMembersGauge(t, reg, map[Status]float64{StatusAlive: 3, StatusSuspect: 0, StatusDead: 0, StatusLeft: 0})
}

// checkMembersGauge compares gossip_members{status} with want.
func checkMembersGauge(t *testing.T, reg *prometheus.Registry, want map[Status]float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[Status]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "gossip_members" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[Status(m.GetLabel()[0].GetValue())] = m.GetGauge().GetValue()
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("gossip_members = %v, want %v", got, want)
	}
}

// counterValue reads an unlabelled counter from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not gathered", name)
	return 0
}

func TestJoinSeedByDNSName(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	a := c.start(c.config("a"))
	_, port, _ := net.SplitHostPort(a.Addr())
	b := c.start(c.config("b", seeds("localhost:"+port)))
	waitStatuses(t, allAlive(a, b), a, b)
}

func TestJoinRetriesUntilLateSeedStarts(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	port := freePort(t)
	seed := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	b := c.start(c.config("b", seeds(seed)))

	// Several attempts must have failed before the seed exists.
	testutil.WaitFor(t, waitTimeout, func() error {
		if n := b.joinAttempts.Load(); n < 3 {
			return fmt.Errorf("%d join attempts so far", n)
		}
		return nil
	})
	if b.Joined() {
		t.Fatal("Joined() = true before any seed was up")
	}
	a := c.start(c.config("a", func(cfg *Config) { cfg.BindPort = port }))
	waitStatuses(t, allAlive(a, b), a, b)
	if !b.Joined() {
		t.Error("Joined() = false after the seed came up")
	}
}

// freePort finds a port free for both TCP and UDP on 127.0.0.1, for a node
// that must start later at a known address.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		_ = l.Close()
		if err == nil {
			_ = u.Close()
			return port
		}
	}
	t.Fatal("no free TCP+UDP port")
	return 0
}

func TestShutdownWithoutLeaveIsFail(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	a := c.start(c.config("a"))
	events := collectEvents(t, a)
	b := c.start(c.config("b", seeds(a.Addr())))
	cc := c.start(c.config("c", seeds(a.Addr())))
	waitStatuses(t, allAlive(a, b, cc), a, b, cc)
	joined, _ := a.Member(cc.cfg.NodeID)

	if err := cc.Shutdown(); err != nil {
		t.Fatal(err)
	}
	want := allAlive(a, b)
	want[cc.cfg.NodeID] = StatusDead
	waitStatuses(t, want, a, b)
	testutil.WaitFor(t, waitTimeout, func() error { return events.has(EventFail, cc.cfg.NodeID) })

	dead, _ := a.Member(cc.cfg.NodeID)
	if !dead.Since.After(joined.Since) {
		t.Errorf("Since did not move on failure: joined %v, dead %v", joined.Since, dead.Since)
	}
	if dead.Meta != cc.LocalMeta() || dead.Addr != cc.Addr() {
		t.Errorf("dead member lost its meta or address: %+v", dead)
	}
	if _, ok := events.find(EventLeave, cc.cfg.NodeID); ok {
		t.Error("a failed node produced a leave event")
	}
}

func TestLeaveIsLeft(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	a := c.start(c.config("a"))
	events := collectEvents(t, a)
	b := c.start(c.config("b", seeds(a.Addr())))
	waitStatuses(t, allAlive(a, b), a, b)

	if err := b.Leave(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	want := allAlive(a)
	want[b.cfg.NodeID] = StatusLeft
	waitStatuses(t, want, a)
	testutil.WaitFor(t, waitTimeout, func() error { return events.has(EventLeave, b.cfg.NodeID) })
	if _, ok := events.find(EventFail, b.cfg.NodeID); ok {
		t.Error("a graceful leave produced a fail event")
	}
	if err := b.Leave(time.Second); !errors.Is(err, ErrShutdown) {
		t.Errorf("second Leave = %v, want ErrShutdown", err)
	}
	if err := b.Shutdown(); err != nil {
		t.Errorf("Shutdown after Leave = %v", err)
	}
	// A left member can be forgotten; a live one cannot.
	a.Forget(a.cfg.NodeID)
	a.Forget(b.cfg.NodeID)
	if err := checkStatuses(a, allAlive(a)); err != nil {
		t.Error(err)
	}
}

func TestUpdateMetaPropagates(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	a := c.start(c.config("a"))
	events := collectEvents(t, a)
	b := c.start(c.config("b", seeds(a.Addr())))
	waitStatuses(t, allAlive(a, b), a, b)

	if err := b.UpdateMeta(func(m *Meta) {
		m.Zone = "zone-new"
		m.HasState = true
		m.ID = "ignored" // the ID is forced back
	}); err != nil {
		t.Fatal(err)
	}
	want := b.LocalMeta()
	if want.ID != b.cfg.NodeID || want.Zone != "zone-new" || !want.HasState {
		t.Fatalf("LocalMeta after update = %+v", want)
	}
	testutil.WaitFor(t, waitTimeout, func() error {
		m, _ := a.Member(b.cfg.NodeID)
		if m.Meta != want {
			return fmt.Errorf("a sees b's meta %+v, want %+v", m.Meta, want)
		}
		return events.has(EventUpdate, b.cfg.NodeID)
	})
	ev, _ := events.find(EventUpdate, b.cfg.NodeID)
	if ev.Member.Meta != want {
		t.Errorf("update event carries %+v, want %+v", ev.Member.Meta, want)
	}

	// An invalid update changes nothing and says which field is wrong.
	err := b.UpdateMeta(func(m *Meta) { m.Zone = string(make([]byte, 100)) })
	if !errors.Is(err, ErrInvalidMeta) || !strings.Contains(err.Error(), "Meta.Zone") {
		t.Errorf("oversized zone: err = %v", err)
	}
	if b.LocalMeta() != want {
		t.Errorf("failed update changed the meta to %+v", b.LocalMeta())
	}
}

func TestEventsNeverBlockMemberlist(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	reg := prometheus.NewRegistry()
	// A one-slot buffer nobody reads: every event after the first is dropped.
	a := c.start(c.config("a", func(cfg *Config) { cfg.EventBuffer = 1; cfg.Registerer = reg }))
	nodes := []*Gossip{a}
	for _, name := range []string{"b", "c", "d"} {
		nodes = append(nodes, c.start(c.config(name, seeds(a.Addr()))))
	}
	for i := range 10 {
		if err := nodes[1].UpdateMeta(func(m *Meta) { m.Version = fmt.Sprint("v", i) }); err != nil {
			t.Fatal(err)
		}
	}
	waitStatuses(t, allAlive(nodes...), nodes...)
	testutil.WaitFor(t, waitTimeout, func() error {
		m, _ := a.Member(nodes[1].cfg.NodeID)
		if m.Meta.Version != "v9" {
			return fmt.Errorf("a sees b at version %q", m.Meta.Version)
		}
		return nil
	})
	dropped := a.Dropped()
	if dropped < 3 {
		t.Errorf("Dropped() = %d, want at least 3", dropped)
	}
	if got := counterValue(t, reg, "gossip_events_dropped_total"); got != float64(dropped) {
		t.Errorf("gossip_events_dropped_total = %v, Dropped() = %d", got, dropped)
	}
}

func TestJoinErrors(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	a := c.start(c.config("a"))
	if _, err := a.Join([]string{a.Addr()}); !errors.Is(err, ErrNoSeeds) {
		t.Errorf("joining only itself: err = %v, want ErrNoSeeds", err)
	}
	if a.Joined() {
		t.Error("joining itself counted as joined")
	}
	if _, err := a.Join([]string{"not a seed"}); !errors.Is(err, ErrNoSeeds) {
		t.Errorf("bad seed: err = %v, want ErrNoSeeds", err)
	}
	dead := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	if n, err := a.Join([]string{dead}); !errors.Is(err, ErrJoin) || n != 0 {
		t.Errorf("nobody listening: n=%d err=%v, want ErrJoin", n, err)
	}
}

// TestShutdownLeavesNoGoroutines is not parallel so that it sees only its
// own goroutines: after Leave and Shutdown, neither this package nor
// memberlist may leave any behind.
func TestShutdownLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c := newCluster(t)
	a, err := New(c.config("a", func(cfg *Config) { cfg.DataDir = t.TempDir() }))
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	b, err := New(c.config("b", seeds(a.Addr()), func(cfg *Config) { cfg.DataDir = t.TempDir() }))
	if err != nil {
		t.Fatal(err)
	}
	b.Start()
	b.Start() // no second loop
	waitStatuses(t, allAlive(a, b), a, b)

	if err := b.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := a.Shutdown(); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Leave(time.Second); !errors.Is(err, ErrShutdown) {
		t.Errorf("Leave after Shutdown = %v, want ErrShutdown", err)
	}
	if err := a.UpdateMeta(func(*Meta) {}); !errors.Is(err, ErrShutdown) {
		t.Errorf("UpdateMeta after Shutdown = %v, want ErrShutdown", err)
	}
	if _, err := a.Join([]string{"127.0.0.1:1"}); !errors.Is(err, ErrShutdown) {
		t.Errorf("Join after Shutdown = %v, want ErrShutdown", err)
	}
	a.Start() // no-op after Shutdown
}
