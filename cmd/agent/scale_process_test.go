package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

// TestProcessScaleDownUpAndFullRestart runs five servers under a bounded
// write load and changes the cluster as an operator would: scale down to
// three with `agent leave` run against each leaving server in turn, back
// up to five with two new servers, then a full stop of every server and a
// start. After each change the Raft configuration holds exactly the right
// voters, and at the end every acknowledged write reads back on every
// server. It logs the figures: time to voters after each leave, time to
// promote the new servers, time to a leader after the full restart, and
// the longest stretch with no acknowledged write in each phase.
func TestProcessScaleDownUpAndFullRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts agent processes")
	}
	// min_quorum 3: the cluster was built with five, but scaling to three
	// is what the operator asks for here.
	cfg := filepath.Join(t.TempDir(), "agent.hcl")
	body := "autopilot {\n  server_stabilization_time = \"1s\"\n  min_quorum = 3\n}\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newProcCluster(t, "scale", 7, "-config", cfg)
	first, stay, leaving, added := c.nodes[:5], c.nodes[:3], []*procNode{c.nodes[4], c.nodes[3]}, c.nodes[5:]
	for _, n := range first {
		c.start(n, gossipAddrs(first), "-bootstrap-expect", "5")
	}
	leader := c.leaderOf(first, dayTwoTimeout)
	testutil.WaitFor(t, dayTwoTimeout, func() error { return checkPeers(t, leader.http(), first) })

	// The load goes to the servers that stay throughout; writes reach the
	// leader wherever it is through forwarding.
	var targets []string
	for _, n := range stay {
		targets = append(targets, n.http())
	}
	w := startKVWriter("scale", targets, 3, 20000, time.Now().Add(4*time.Minute))
	defer w.Stop()
	waitAcked(t, w, 50)

	start := time.Now()
	scaleDownByLeave(t, c, stay, leaving)
	waitAcked(t, w, w.acked.Load()+50)
	checkGap(t, "scale down 5 -> 3", w.longestGap(start, time.Now()))

	start = time.Now()
	for _, n := range added {
		c.start(n, gossipAddrs(stay))
	}
	final := append(append([]*procNode{}, stay...), added...)
	testutil.WaitFor(t, dayTwoTimeout, func() error { return checkPeers(t, stay[0].http(), final) })
	t.Logf("scale up 3 -> 5: %s and %s voters %s after their start", added[0].id, added[1].id,
		time.Since(start).Round(time.Millisecond))
	waitAcked(t, w, w.acked.Load()+50)
	checkGap(t, "scale up 3 -> 5", w.longestGap(start, time.Now()))

	fullRestart(t, c, w, final)
	w.Stop()
	leader = c.leaderOf(final, dayTwoTimeout)
	checkAllAcked(t, w, leader, final)
	t.Logf("%d writes acknowledged, %d failed or unknown, all acknowledged ones read back on every server",
		w.acked.Load(), w.failed.Load())
}

// scaleDownByLeave runs `agent leave` against each of leaving, one at a
// time, waits for its process to exit 0, and checks the remaining servers'
// configuration has it gone, with every other server still a voter.
func scaleDownByLeave(t *testing.T, c *procCluster, stay, leaving []*procNode) {
	t.Helper()
	remaining := append(append([]*procNode{}, stay...), leaving...)
	for _, n := range leaving {
		began := time.Now()
		code, _, errOut := runBinary(t, "leave", "-http-addr", n.http())
		if code != 0 {
			t.Fatalf("agent leave on %s: exit %d: %s", n.id, code, strings.TrimSpace(errOut))
		}
		select {
		case <-n.proc.done:
			if n.proc.exitErr() != nil {
				t.Fatalf("%s exited with %v after leaving\n%s", n.id, n.proc.exitErr(), n.proc.tail())
			}
		case <-time.After(dayTwoTimeout):
			t.Fatalf("%s still running %s after agent leave\n%s", n.id, dayTwoTimeout, n.proc.tail())
		}
		remaining = slices.DeleteFunc(remaining, func(r *procNode) bool { return r == n })
		testutil.WaitFor(t, dayTwoTimeout, func() error { return checkPeers(t, stay[0].http(), remaining) })
		t.Logf("%s left: voters %d after %s", n.id, len(remaining), time.Since(began).Round(time.Millisecond))
	}
}

// fullRestart stops every one of nodes at once with SIGTERM (a whole
// StatefulSet deleted, a power cut handled gracefully), starts them all
// again on their data dirs, and checks they end as the same voters.
func fullRestart(t *testing.T, c *procCluster, w *kvWriter, nodes []*procNode) {
	t.Helper()
	stopAt := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.proc.stop(30 * time.Second)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v\n%s", nodes[i].id, err, nodes[i].proc.tail())
		}
	}
	t.Logf("all %d servers stopped in %s", len(nodes), time.Since(stopAt).Round(time.Millisecond))

	start := time.Now()
	for _, n := range nodes {
		c.start(n, gossipAddrs(nodes))
	}
	leader := c.leaderOf(nodes, dayTwoTimeout)
	elected := time.Since(start)
	testutil.WaitFor(t, dayTwoTimeout, func() error { return checkPeers(t, leader.http(), nodes) })
	acked := w.acked.Load()
	waitAcked(t, w, acked+50)
	t.Logf("full restart: a leader %s after the first start, voters %v; writes stopped %s in all (from the first stop)",
		elected.Round(time.Millisecond), ids(nodes), w.longestGap(stopAt, time.Now()).Round(time.Millisecond))
	if elected > 30*time.Second {
		t.Errorf("a leader took %s after the full restart, want under 30s", elected)
	}
}

// scaleGapBound bounds the longest stretch with no acknowledged write while
// servers leave or join: a leaving leader hands leadership off first, and
// a quorum stays throughout, so at most one election may pause writes.
const scaleGapBound = 3 * time.Second

func checkGap(t *testing.T, phase string, gap time.Duration) {
	t.Helper()
	t.Logf("%s: longest stretch without an acknowledged write %s", phase, gap.Round(time.Millisecond))
	if gap > scaleGapBound {
		t.Errorf("%s: writes stopped for %s, want under %s", phase, gap, scaleGapBound)
	}
}

func ids(nodes []*procNode) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.id
	}
	return out
}
