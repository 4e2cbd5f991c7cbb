package discovery

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/memberlist"
)

// countingTransport passes everything through and counts Shutdown calls.
type countingTransport struct {
	memberlist.NodeAwareTransport
	shutdowns *atomic.Int32
}

func (c countingTransport) Shutdown() error {
	c.shutdowns.Add(1)
	return c.NodeAwareTransport.Shutdown()
}

func TestWrappedTransportFormsAndShutsDown(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	var wrapped, shutdowns atomic.Int32
	wrap := func(cfg *Config) {
		cfg.WrapTransport = func(inner memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
			wrapped.Add(1)
			return countingTransport{NodeAwareTransport: inner, shutdowns: &shutdowns}
		}
	}
	a := c.start(c.config("a", wrap))
	b := c.start(c.config("b", wrap, seeds(a.Addr())))
	if wrapped.Load() != 2 {
		t.Fatalf("WrapTransport called %d times, want 2", wrapped.Load())
	}
	for _, g := range []*Gossip{a, b} {
		// BindPort is 0: the advertised port must be the one the wrapped
		// transport bound, not 0.
		if strings.HasSuffix(g.Addr(), ":0") {
			t.Fatalf("%s advertises %s", g.cfg.NodeID, g.Addr())
		}
	}
	waitStatuses(t, allAlive(a, b), a, b)
	for _, g := range []*Gossip{a, b} {
		if err := g.Shutdown(); err != nil {
			t.Fatal(err)
		}
	}
	if shutdowns.Load() != 2 {
		t.Fatalf("wrapped transport shut down %d times, want 2", shutdowns.Load())
	}
}

func TestWrapTransportReturningNilIsAnError(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	cfg := c.config("a", func(cfg *Config) {
		cfg.WrapTransport = func(memberlist.NodeAwareTransport) memberlist.NodeAwareTransport { return nil }
	})
	g, err := New(cfg)
	if err == nil {
		_ = g.Shutdown()
		t.Fatal("New with a nil-returning WrapTransport succeeded")
	}
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "WrapTransport") {
		t.Fatalf("New: %v, want an invalid-config error naming WrapTransport", err)
	}
}
