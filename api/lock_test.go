package api_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/api"
)

// soloClient starts a one-server agent and returns a client of it.
func soloClient(t *testing.T) *api.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real agent")
	}
	cfg := agenttest.Config(t, "solo")
	cfg.BootstrapPreferred = true
	n := agenttest.Start(t, cfg)
	agenttest.WaitForConfig(t, 30*time.Second, []*agenttest.Node{n}, []string{"solo"}, nil)
	c, err := api.NewClient(api.Config{Address: n.Agent.HTTPAddr(), Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLockIsExclusive: a second holder waits while the first holds the
// lock, and gets it (with a higher fencing index) once the first releases.
func TestLockIsExclusive(t *testing.T) {
	c := soloClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	first := c.NewLock("job", 3*time.Second, []byte("first"))
	i1, err := first.Acquire(ctx)
	if err != nil || i1 == 0 || first.Index() != i1 {
		t.Fatalf("first Acquire = %d, %v (Index %d)", i1, err, first.Index())
	}
	e, _, err := c.KVGet(ctx, api.LockPrefix+"job", nil)
	if err != nil || string(e.Value) != "first" {
		t.Fatalf("lock key = %q, %v", e.Value, err)
	}
	second := c.NewLock("job", 3*time.Second, []byte("second"))
	got := make(chan error, 1)
	var i2 atomic.Uint64
	go func() {
		idx, err := second.Acquire(ctx)
		i2.Store(idx)
		got <- err
	}()
	// The first holder keeps it past its TTL by renewing; meanwhile the
	// second must still be waiting.
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-got:
			t.Fatalf("second Acquire returned while the first held the lock: %v", err)
		case <-time.After(100 * time.Millisecond): // poll interval
		}
	}
	if !first.SafeUntil(0).After(time.Now()) {
		t.Fatalf("first holder's lease not renewed: safe until %s", first.SafeUntil(0))
	}
	if err := first.Release(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil || i2.Load() <= i1 {
			t.Fatalf("second Acquire = %d, %v; want an index above %d", i2.Load(), err, i1)
		}
	case <-ctx.Done():
		t.Fatal("second Acquire did not return after the first released")
	}
	if err := second.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.KVGet(ctx, api.LockPrefix+"job", nil); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("lock key after the last release: %v, want ErrNotFound", err)
	}
}

// TestElectOneLeaderAtATime: two electors; one leads, the other takes over
// once the first gives up, and their terms never overlap.
func TestElectOneLeaderAtATime(t *testing.T) {
	c := soloClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var mu sync.Mutex
	leading := map[string]bool{}
	var overlap atomic.Bool
	terms := make(chan string, 8)
	elector := func(name string, ectx context.Context) error {
		return c.Elect(ectx, "leader", 2*time.Second, []byte(name), func(lctx context.Context, index uint64) {
			mu.Lock()
			for other, on := range leading {
				if on && other != name {
					overlap.Store(true)
				}
			}
			leading[name] = true
			mu.Unlock()
			terms <- name
			<-lctx.Done()
			mu.Lock()
			leading[name] = false
			mu.Unlock()
		})
	}
	ctxA, stopA := context.WithCancel(ctx)
	ctxB, stopB := context.WithCancel(ctx)
	defer stopB()
	errs := make(chan error, 2)
	go func() { errs <- elector("a", ctxA) }()
	go func() { errs <- elector("b", ctxB) }()

	var firstName string
	select {
	case firstName = <-terms:
	case <-ctx.Done():
		t.Fatal("nobody was elected")
	}
	// Stop the one leading; the other must take over.
	if firstName == "a" {
		stopA()
	} else {
		stopB()
	}
	select {
	case next := <-terms:
		if next == firstName {
			t.Fatalf("%s was elected again after it stopped", next)
		}
	case <-ctx.Done():
		t.Fatalf("nobody took over from %s", firstName)
	}
	stopA()
	stopB()
	for range 2 {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Fatalf("Elect returned %v, want context.Canceled", err)
		}
	}
	if overlap.Load() {
		t.Fatal("two electors led at the same time")
	}
}
