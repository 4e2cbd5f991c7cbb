package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

// waitReady waits for GET /v1/health/ready to answer 200 on n.
func waitReady(t *testing.T, n *procNode) {
	t.Helper()
	testutil.WaitFor(t, dayTwoTimeout, func() error {
		c, err := agentAPI(n.http())
		if err != nil {
			return err
		}
		if err := c.Ready(context.Background()); err != nil {
			return fmt.Errorf("%s ready: %w", n.id, err)
		}
		return nil
	})
}

// TestProcessRollingRestart restarts every server of three in turn, each
// as soon as the one before is ready, under a bounded write load, with and
// without leave_on_terminate: no acknowledged write is lost, and writes
// never stop for long (leadership is handed off before a leader stops, a
// server that left is added back as soon as it is alive again, and one
// not yet added forwards writes to the leader).
func TestProcessRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts agent processes")
	}
	for _, leave := range []bool{false, true} {
		t.Run(fmt.Sprintf("leave_on_terminate=%v", leave), func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "agent.hcl")
			body := fmt.Sprintf("leave_on_terminate = %v\nautopilot {\n  server_stabilization_time = \"1s\"\n}\n", leave)
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			c := newProcCluster(t, "roll", 3, "-config", cfg)
			seeds := gossipAddrs(c.nodes)
			for _, n := range c.nodes {
				c.start(n, seeds, "-bootstrap-expect", "3")
			}
			c.leaderOf(c.nodes, dayTwoTimeout)
			for _, n := range c.nodes {
				waitReady(t, n)
			}
			var targets []string
			for _, n := range c.nodes {
				targets = append(targets, n.http())
			}
			w := startKVWriter("roll", targets, 3, 20000, time.Now().Add(3*time.Minute))
			defer w.Stop()
			waitAcked(t, w, 50)
			start := time.Now()
			for _, n := range c.nodes {
				c.stop(n)
				c.start(n, seeds)
				waitReady(t, n)
			}
			waitAcked(t, w, w.acked.Load()+50)
			end := time.Now()
			w.Stop()
			gap := w.longestGap(start, end)
			t.Logf("rolling restart took %s; %d writes acknowledged, %d failed; longest stretch without an acknowledged write %s",
				end.Sub(start).Round(time.Millisecond), w.acked.Load(), w.failed.Load(), gap.Round(time.Millisecond))
			if gap > time.Second {
				t.Errorf("writes stopped for %s during the rolling restart, want under 1s (last error %v)", gap, w.lastErr.Load())
			}
			leader := c.leaderOf(c.nodes, dayTwoTimeout)
			checkAllAcked(t, w, leader, c.nodes)
			testutil.WaitFor(t, dayTwoTimeout, func() error { return checkPeers(t, leader.http(), c.nodes) })
			for _, n := range c.nodes {
				began := time.Now()
				c.stop(n)
				t.Logf("%s stopped in %s", n.id, time.Since(began).Round(time.Millisecond))
			}
		})
	}
}
