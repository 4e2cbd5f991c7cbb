package discovery

import (
	"net"
	"sync"
	"testing"
	"time"
)

// TestShutdownCutsAHungPushPull joins a seed that accepts the TCP
// connection and never answers, as a seed too busy to serve a push/pull
// does: the join waits for TCPTimeout (10 s here), and Shutdown, which
// waits for the join loop, must not.
func TestShutdownCutsAHungPushPull(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	accepted := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	c := newCluster(t)
	cfg := c.config("a", seeds(ln.Addr().String()), func(cfg *Config) { cfg.TCPTimeout = 10 * time.Second })
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g.Start()
	select {
	case <-accepted:
	case <-time.After(waitTimeout):
		_ = g.Shutdown()
		t.Fatal("the join never reached the silent seed")
	}
	began := time.Now()
	if err := g.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("Shutdown took %s with a push/pull in flight; want well under the 10s TCP timeout", took)
	}
}

// TestLocalMemberMatchesMembers checks that LocalMember, which reads the
// table entry alone, says what the full member list says of this node,
// before and after metadata changes.
func TestLocalMemberMatchesMembers(t *testing.T) {
	c := newCluster(t)
	a := c.start(c.config("a"))
	b := c.start(c.config("b", seeds(a.Addr())))
	waitStatuses(t, allAlive(a, b), a, b)
	if err := a.UpdateMeta(func(m *Meta) { m.Zone = "zone-moved" }); err != nil {
		t.Fatal(err)
	}
	local := a.LocalMember()
	full, ok := a.Member(a.LocalMember().ID)
	if !ok {
		t.Fatal("this node is not in its own member list")
	}
	full.Meta = a.LocalMeta()
	if local != full {
		t.Errorf("LocalMember = %+v, the member list says %+v", local, full)
	}
	if local.Status != StatusAlive || local.Meta.Zone != "zone-moved" || local.Addr != a.Addr() {
		t.Errorf("LocalMember = %+v, want alive at %s in zone-moved", local, a.Addr())
	}
}
