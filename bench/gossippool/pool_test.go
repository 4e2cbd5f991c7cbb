package gossippool

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clusteragent/agent/discovery"
)

func TestMeasureSmallPool(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Measure(ctx, 5, "lan")
	if err != nil {
		t.Fatal(err)
	}
	if res.Members != 5 || res.Converged <= 0 || res.FirstDead <= 0 || res.AllDead < res.FirstDead {
		t.Fatalf("implausible result %+v", res)
	}
	// Five members on loopback probe each other a few times a second: the
	// counters fed by memberlist's metrics must have seen it.
	if res.RestPackets <= 0 || res.RestBytes <= 0 || res.HeapBytes == 0 || res.JoinCPU <= 0 {
		t.Errorf("costs not measured: %+v", res)
	}
	if res.FalseDeaths != 0 {
		t.Errorf("%d false deaths in a pool of five", res.FalseDeaths)
	}
	t.Logf("5 members: %+v", res)
}

func TestMeasureRefusesTinyPool(t *testing.T) {
	if _, err := Measure(context.Background(), 2, "lan"); err == nil {
		t.Fatal("a pool of 2 was accepted")
	}
}

// TestMembersGossipAgentSizedMeta keeps the pool's metadata the size of an
// agent's: smaller metadata packs more alive messages per packet and would
// flatter the timings.
func TestMembersGossipAgentSizedMeta(t *testing.T) {
	for _, i := range []int{0, servers - 1, servers, 199} {
		m := meta(i)
		m.ID = nodeID(i)
		b, err := discovery.EncodeMeta(m)
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		if len(b) < 130 || len(b) > 180 {
			t.Errorf("member %d: metadata is %d bytes, want an agent's 130-180: %s", i, len(b), b)
		}
	}
}

// TestMeasureReturnsWhenItsContextEnds gives a pool far too little time to
// converge: Measure must return soon after its context ends, with the
// context's error, and with its members shut down.
func TestMeasureReturnsWhenItsContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := Measure(ctx, 60, "lan")
	took := time.Since(began)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Measure returned %v, want the context's deadline", err)
	}
	if took > 300*time.Millisecond+shutdownWait+time.Second {
		t.Fatalf("Measure returned %s after start, its context ended after 300ms", took)
	}
}

func TestCountersReadFailuresAndRefutations(t *testing.T) {
	c := newCounters()
	for _, line := range []string{
		"2026-12-04T20:00:00Z [WARN]  gossip: member failed: member=node-1 addr=127.0.0.1:1\n",
		"2026-12-04T20:00:00Z [WARN]  gossip: member failed: member=node-2 addr=127.0.0.1:2\n",
		"2026-12-04T20:00:00Z [WARN]  gossip: member failed: member=node-2 addr=127.0.0.1:2\n",
		"2026-12-04T20:00:00Z [WARN]  gossip: memberlist: Refuting a suspect message (from: node-3)\n",
		"2026-12-04T20:00:00Z [WARN]  gossip: something else\n",
	} {
		if _, err := c.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if d, r := c.deathsOf("node-2"); d != 1 || r != 1 {
		t.Errorf("deaths of others than node-2: %d, refutations %d; want 1 and 1", d, r)
	}
	if d, _ := c.deathsOf(""); d != 3 {
		t.Errorf("all deaths: %d, want 3", d)
	}
}

func TestRestSettle(t *testing.T) {
	for n, want := range map[int]time.Duration{3: time.Second, 5: time.Second, 100: 20 * time.Second, 300: time.Minute, 1000: time.Minute} {
		if got := RestSettle(n); got != want {
			t.Errorf("RestSettle(%d) = %s, want %s", n, got, want)
		}
	}
}
