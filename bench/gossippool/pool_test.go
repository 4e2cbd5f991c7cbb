package gossippool

import (
	"context"
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
	t.Logf("5 members: converged %s, crash seen first %s, by all %s", res.Converged, res.FirstDead, res.AllDead)
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
