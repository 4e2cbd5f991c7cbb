package discovery

import (
	"fmt"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

func TestReclaimStep(t *testing.T) {
	now := time.Unix(1000, 0)
	p := pendingReclaim{addr: "127.0.0.2:7946", until: now.Add(time.Second)}
	cases := map[string]struct {
		cur   Member
		known bool
		now   time.Time
		want  reclaimAction
	}{
		"unknown yet":              {now: now, want: reclaimRetry},
		"still at the old address": {cur: Member{Addr: "127.0.0.1:7946", Status: StatusAlive}, known: true, now: now, want: reclaimRetry},
		"old address dead":         {cur: Member{Addr: "127.0.0.1:7946", Status: StatusDead}, known: true, now: now, want: reclaimRetry},
		"taken at the new address": {cur: Member{Addr: "127.0.0.2:7946", Status: StatusAlive}, known: true, now: now, want: reclaimDone},
		"suspect at the new one":   {cur: Member{Addr: "127.0.0.2:7946", Status: StatusSuspect}, known: true, now: now, want: reclaimDone},
		"dead at the new one":      {cur: Member{Addr: "127.0.0.2:7946", Status: StatusDead}, known: true, now: now, want: reclaimRetry},
		"window over":              {cur: Member{Addr: "127.0.0.1:7946", Status: StatusAlive}, known: true, now: now.Add(time.Second), want: reclaimGiveUp},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := reclaimStep(p, tc.cur, tc.known, tc.now); got != tc.want {
				t.Errorf("reclaimStep = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestNodeMovesToNewAddress stops a member and starts it again, same ID, on
// another loopback address: the others must see it alive there within a
// few seconds (the old incarnation is declared dead in about a second with
// the loopback timers), not after memberlist's former 30s reclaim time.
func TestNodeMovesToNewAddress(t *testing.T) {
	c := newCluster(t)
	a := c.start(c.config("a"))
	b := c.start(c.config("b", seeds(a.Addr())))
	m := c.start(c.config("m", seeds(a.Addr())))
	waitStatuses(t, allAlive(a, b, m), a, b, m)

	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
	moved := c.start(c.config("m", seeds(a.Addr()), func(cfg *Config) { cfg.BindAddr = "127.0.0.2" }))
	start := time.Now()
	testutil.WaitFor(t, 20*time.Second, func() error {
		for _, g := range []*Gossip{a, b} {
			mm, ok := g.Member(moved.cfg.NodeID)
			if !ok || mm.Status != StatusAlive || mm.Addr != moved.Addr() {
				return fmt.Errorf("%s sees %s as %+v, want alive at %s", g.cfg.NodeID, moved.cfg.NodeID, mm, moved.Addr())
			}
		}
		return nil
	})
	t.Logf("moved member alive at its new address after %s", time.Since(start).Round(time.Millisecond))
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s to take the member back at its new address", d)
	}
}
