package agent

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func TestNextLeadershipStep(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		isLeader, running bool
		want              leadershipStep
	}{
		"won":                 {isLeader: true, running: false, want: stepStart},
		"lost":                {isLeader: false, running: true, want: stepStop},
		"repeated leadership": {isLeader: true, running: true, want: stepNone},
		"repeated follower":   {isLeader: false, running: false, want: stepNone},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := nextLeadershipStep(tc.isLeader, tc.running); got != tc.want {
				t.Errorf("nextLeadershipStep(%v, %v) = %v, want %v", tc.isLeader, tc.running, got, tc.want)
			}
		})
	}
}

// TestLeadershipMonitorStartsAndStopsDuties drives the monitor through
// won, won again, lost, won, then the agent's end: one run of the duties
// per term, each stopped (and waited for) before the monitor goes on.
func TestLeadershipMonitorStartsAndStopsDuties(t *testing.T) {
	t.Parallel()
	leaderCh := make(chan bool)
	var started, running atomic.Int32
	m := &leadershipMonitor{leaderCh: leaderCh, logger: hclog.NewNullLogger(), duties: func(ctx context.Context) {
		started.Add(1)
		running.Add(1)
		defer running.Add(-1)
		<-ctx.Done()
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	waitRunning := func(want int32, what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for running.Load() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d duty runs active, want %d", what, running.Load(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	leaderCh <- true
	waitRunning(1, "after winning")
	leaderCh <- true
	leaderCh <- false // the unbuffered send returns once the monitor took it...
	leaderCh <- false // ...so this one is taken only after the stop finished
	if got := running.Load(); got != 0 {
		t.Fatalf("after losing: %d duty runs still active", got)
	}
	leaderCh <- true
	waitRunning(1, "after winning again")
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if running.Load() != 0 || started.Load() != 2 {
		t.Errorf("%d runs active and %d started, want 0 and 2 (one per term)", running.Load(), started.Load())
	}
}

func TestPlanClusterID(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		inLog, inDataDir string
		wantID           string
		wantCommit       bool
	}{
		"first leader of a new cluster":    {wantID: "", wantCommit: true},
		"data dir from before replication": {inDataDir: "c1", wantID: "c1", wantCommit: true},
		"the log holds it":                 {inLog: "c1", wantID: "c1"},
		"the log wins over the data dir":   {inLog: "c1", inDataDir: "c2", wantID: "c1"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			id, commit := planClusterID(tc.inLog, tc.inDataDir)
			if id != tc.wantID || commit != tc.wantCommit {
				t.Errorf("planClusterID(%q, %q) = %q, %v; want %q, %v", tc.inLog, tc.inDataDir, id, commit, tc.wantID, tc.wantCommit)
			}
		})
	}
}
