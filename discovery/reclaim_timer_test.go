package discovery

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clusteragent/agent/internal/clock"
)

// tickerCounter is a fake clock that counts the tickers made and stopped.
type tickerCounter struct {
	*clock.Fake
	made, stopped atomic.Int32
}

func (c *tickerCounter) NewTicker(d time.Duration) clock.Ticker {
	c.made.Add(1)
	return &countedTicker{Ticker: c.Fake.NewTicker(d), stopped: &c.stopped}
}

type countedTicker struct {
	clock.Ticker
	stopped *atomic.Int32
}

func (t *countedTicker) Stop() { t.stopped.Add(1); t.Ticker.Stop() }

// waitCount polls n until it reaches want, failing with what it last saw.
func waitCount(t *testing.T, what string, n *atomic.Int32, want int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d, want %d", what, n.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestReclaimLoopTicksOnlyWhilePending: the loop makes no ticker while no
// claim is pending (an idle member is never woken by it), makes one for a
// claim, and stops it once the claim is settled (here: given up after the
// window), making a new one for the next claim.
func TestReclaimLoopTicksOnlyWhilePending(t *testing.T) {
	clk := &tickerCounter{Fake: clock.NewFake(time.Unix(0, 0))}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gossip{ctx: ctx, cancel: cancel, clock: clk, logger: hclog.NewNullLogger(),
		reclaims: make(chan reclaimClaim), table: newMemberTable("self", nil)}
	g.wg.Add(1)
	go g.reclaimLoop()
	defer func() {
		cancel()
		g.wg.Wait()
	}()

	clk.Advance(time.Minute)
	if n := clk.made.Load(); n != 0 {
		t.Fatalf("%d tickers made with no claim pending, want 0", n)
	}
	for round := int32(1); round <= 2; round++ {
		g.reclaims <- reclaimClaim{id: "n2", addr: "10.0.0.9:7946"}
		waitCount(t, "tickers made", &clk.made, round)
		// Past the window in one step: the single tick gives the claim up
		// without a push/pull, so the pending set empties.
		clk.Advance(reclaimWindow + reclaimInterval)
		waitCount(t, "tickers stopped", &clk.stopped, round)
	}
}
