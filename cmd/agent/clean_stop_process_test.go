package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

// TestProcessMetricsAndCleanStop runs three agent processes, checks every
// node's /metrics with promtool (where it is installed), makes one leave,
// then stops the other two at once, as one Ctrl-C in make run does, and
// checks that no log has an ERROR line (a clean stop or leave is not an
// error) or a join-only line (a -bootstrap-expect agent is not join-only).
func TestProcessMetricsAndCleanStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts agent processes")
	}
	c := newProcCluster(t, "clean", 3)
	seeds := gossipAddrs(c.nodes)
	for _, n := range c.nodes {
		c.start(n, seeds, "-bootstrap-expect", "3")
	}
	c.leaderOf(c.nodes, dayTwoTimeout)
	testutil.WaitFor(t, dayTwoTimeout, func() error { return checkPeers(t, c.nodes[0].http(), c.nodes) })
	c.putKeys("clean", 5, c.nodes)

	t.Run("promtool", func(t *testing.T) {
		promtool, err := exec.LookPath("promtool")
		if err != nil {
			t.Skip("promtool is not installed (Debian: apt-get install prometheus); .ci/run installs it")
		}
		for _, n := range c.nodes {
			scrape := scrapeMetrics(t, n.http())
			cmd := exec.Command(promtool, "check", "metrics")
			cmd.Stdin = bytes.NewReader(scrape)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("promtool check metrics on %s's /metrics: %v\n%s", n.id, err, out)
			}
		}
	})

	// A graceful leave: the leaver exits 0 and is removed from Raft.
	leaver, rest := c.nodes[2], c.nodes[:2]
	lc, err := agentAPI(leaver.http())
	if err != nil {
		t.Fatal(err)
	}
	if err := lc.Leave(context.Background()); err != nil {
		t.Fatalf("POST /v1/agent/leave on %s: %v", leaver.id, err)
	}
	select {
	case <-leaver.proc.done:
		if leaver.proc.exitErr() != nil {
			t.Errorf("%s exited with %v after leaving", leaver.id, leaver.proc.exitErr())
		}
	case <-time.After(dayTwoTimeout):
		t.Fatalf("%s did not exit after leaving:\n%s", leaver.id, leaver.proc.tail())
	}
	testutil.WaitFor(t, dayTwoTimeout, func() error { return checkPeers(t, rest[0].http(), rest) })
	if lines := errorLines(t, leaver.proc.log); len(lines) > 0 {
		t.Errorf("%s logged ERROR on a graceful leave:\n%s", leaver.id, strings.Join(lines, "\n"))
	}

	var wg sync.WaitGroup
	for _, n := range rest {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.proc.stop(30 * time.Second); err != nil {
				t.Errorf("%s: %v\n%s", n.id, err, n.proc.tail())
			}
		}()
	}
	wg.Wait()
	for _, n := range c.nodes {
		if lines := errorLines(t, n.proc.log); len(lines) > 0 && n != leaver {
			t.Errorf("%s logged ERROR on a clean stop:\n%s", n.id, strings.Join(lines, "\n"))
		}
		// A -bootstrap-expect agent bootstraps or waits for its peers; it
		// is never told it waits to be added.
		if lines := grepFile(t, n.proc.log, "join-only"); len(lines) > 0 {
			t.Errorf("%s logged a join-only line:\n%s", n.id, strings.Join(lines, "\n"))
		}
	}
}

// scrapeMetrics GETs /metrics from addr.
func scrapeMetrics(t *testing.T, addr string) []byte {
	t.Helper()
	c, err := agentAPI(addr)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	if err := c.Metrics(context.Background(), &body); err != nil {
		t.Fatalf("GET /metrics on %s: %v", addr, err)
	}
	return body.Bytes()
}

// errorLines returns the lines of the log at path logged at ERROR.
func errorLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "[ERROR]") || strings.Contains(l, `"@level":"error"`) {
			out = append(out, l)
		}
	}
	if len(out) > 20 {
		out = append(out[:20], fmt.Sprintf("... and %d more", len(out)-20))
	}
	return out
}
