package discovery

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/clusteragent/agent/internal/testutil"
)

// TestMain fails the run if any goroutine outlives the tests: every Gossip is
// shut down in a cleanup, and Shutdown must stop all of its goroutines.
// TestMain checks that no goroutine outlives the tests. memberlist's
// probeNode is ignored: after Shutdown, a probe in flight still waits for
// its ack timer (a probe interval, stretched under load by memberlist's
// awareness multiplier) before it returns, so it can be caught mid-wait; it
// ends on its own and holds nothing of ours.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

const waitTimeout = 15 * time.Second

// logBuffer keeps a test's logs and prints them only when the test failed,
// so passing runs stay quiet and failing ones show what memberlist did.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

const maxLogBytes = 8 << 20

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > maxLogBytes {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLogger(t *testing.T) (hclog.Logger, *logBuffer) {
	t.Helper()
	buf := &logBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{Output: buf, Level: hclog.Debug})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", buf.String())
		}
	})
	return logger, buf
}

// cluster builds test nodes with per-test unique names and cluster ID, so
// pools of parallel tests can never merge even if a port is reused.
type cluster struct {
	t      *testing.T
	prefix string
	logger hclog.Logger
	logs   *logBuffer
}

func newCluster(t *testing.T) *cluster {
	logger, logs := testLogger(t)
	return &cluster{t: t, prefix: strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), logger: logger, logs: logs}
}

func (c *cluster) id(name string) string { return c.prefix + "-" + name }

// config returns a loopback config with fast timers for node name.
func (c *cluster) config(name string, mods ...func(*Config)) Config {
	cfg := LoopbackConfig()
	cfg.NodeID = c.id(name)
	cfg.Logger = c.logger.Named(name)
	cfg.Meta = Meta{
		ClusterID: c.prefix,
		RaftAddr:  "127.0.0.1:7000",
		HTTPAddr:  "127.0.0.1:7070",
		Role:      RoleServer,
		Zone:      "zone-" + name,
		Version:   "test",
	}
	cfg.JoinBackoffMin = 20 * time.Millisecond
	cfg.JoinBackoffMax = 200 * time.Millisecond
	cfg.RejoinInterval = 200 * time.Millisecond
	for _, m := range mods {
		m(&cfg)
	}
	return cfg
}

// start creates and starts a node and shuts it down at cleanup.
func (c *cluster) start(cfg Config) *Gossip {
	c.t.Helper()
	g, err := New(cfg)
	if err != nil {
		c.t.Fatalf("New(%s): %v", cfg.NodeID, err)
	}
	c.t.Cleanup(func() { _ = g.Shutdown() })
	g.Start()
	return g
}

func seeds(addrs ...string) func(*Config) {
	return func(c *Config) { c.Seeds = addrs }
}

// statuses renders members as "id=status" for error messages.
func statuses(ms []Member) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.ID + "=" + string(m.Status)
	}
	return strings.Join(parts, " ")
}

// checkStatuses returns nil when g's members are exactly want.
func checkStatuses(g *Gossip, want map[string]Status) error {
	ms := g.Members()
	got := make(map[string]Status, len(ms))
	for _, m := range ms {
		got[m.ID] = m.Status
	}
	if len(got) != len(want) {
		return fmt.Errorf("%s sees [%s], want %v", g.cfg.NodeID, statuses(ms), want)
	}
	for id, s := range want {
		if got[id] != s {
			return fmt.Errorf("%s sees [%s], want %s=%s", g.cfg.NodeID, statuses(ms), id, s)
		}
	}
	return nil
}

// waitStatuses waits until every node in gs sees exactly want.
func waitStatuses(t *testing.T, want map[string]Status, gs ...*Gossip) {
	t.Helper()
	testutil.WaitFor(t, waitTimeout, func() error {
		for _, g := range gs {
			if err := checkStatuses(g, want); err != nil {
				return err
			}
		}
		return nil
	})
}

// allAlive is the want map for nodes that all see each other alive.
func allAlive(gs ...*Gossip) map[string]Status {
	want := make(map[string]Status, len(gs))
	for _, g := range gs {
		want[g.cfg.NodeID] = StatusAlive
	}
	return want
}

// holdFor checks that cond keeps returning nil for d, failing at the first
// violation. It asserts that something does not happen, which only a period
// of observation can show.
func holdFor(t *testing.T, d time.Duration, cond func() error) {
	t.Helper()
	var violation error
	errHolding := fmt.Errorf("still holding")
	_ = testutil.Poll(d, func() error {
		if err := cond(); err != nil {
			violation = err
			return nil
		}
		return errHolding
	})
	if violation != nil {
		t.Fatal(violation)
	}
}

// eventLog drains a node's Events channel until the test ends.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func collectEvents(t *testing.T, g *Gossip) *eventLog {
	l := &eventLog{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case ev := <-g.Events():
				l.mu.Lock()
				l.events = append(l.events, ev)
				l.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return l
}

// has returns nil once an event of type typ about id was received.
func (l *eventLog) has(typ EventType, id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var seen []string
	for _, ev := range l.events {
		if ev.Type == typ && ev.Member.ID == id {
			return nil
		}
		seen = append(seen, ev.Type.String()+":"+ev.Member.ID)
	}
	return fmt.Errorf("no %s event for %s; got %v", typ, id, seen)
}

func (l *eventLog) find(typ EventType, id string) (Event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := slices.IndexFunc(l.events, func(ev Event) bool { return ev.Type == typ && ev.Member.ID == id })
	if i < 0 {
		return Event{}, false
	}
	return l.events[i], true
}
