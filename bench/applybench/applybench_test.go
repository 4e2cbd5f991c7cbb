package applybench

import (
	"context"
	"github.com/clusteragent/agent/raftnode"
	"testing"
	"time"

	"github.com/clusteragent/agent/bench/load"
)

func TestRunMeasuresApply(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three raft nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	plan := load.Plan{Clients: []int{1, 4}, Duration: 300 * time.Millisecond, ValueSize: 64}
	res, err := Run(ctx, t.TempDir(), plan, raftnode.LogStoreWAL)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("got %d results, want 2: %+v", len(res), res)
	}
	for _, r := range res {
		if r.Name != Name || r.Ops == 0 || r.Errors != 0 || r.P99Ms <= 0 {
			t.Errorf("result %+v: want ops, no errors and latencies", r)
		}
	}
}
