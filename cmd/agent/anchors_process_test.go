package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

// holdPeers checks for d that addr's Raft configuration keeps every ID in
// ids, failing at the first configuration without one. It asserts that
// something does not happen, which only a period of observation can show.
func holdPeers(t *testing.T, addr string, ids []string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for ; time.Now().Before(deadline); <-tick.C {
		servers, err := raftPeers(t, addr)
		if err != nil {
			continue // a leader change in flight; the next poll decides
		}
		have := map[string]bool{}
		for _, s := range servers {
			have[s.ID] = true
		}
		for _, id := range ids {
			if !have[id] {
				t.Fatalf("%s was removed from the configuration: %+v", id, servers)
			}
		}
	}
}

// TestProcessPartialRestartKeepsMissingServers stops all three servers and
// starts only two: they elect a leader and serve writes, and the third
// keeps its place in the configuration (a server that is merely not back
// yet is not reaped at once; dead_server_reap_after applies).
func TestProcessPartialRestartKeepsMissingServers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts agent processes")
	}
	c := newProcCluster(t, "part", 3)
	seeds := gossipAddrs(c.nodes)
	for _, n := range c.nodes {
		c.start(n, seeds, "-bootstrap-expect", "3")
	}
	c.leaderOf(c.nodes, dayTwoTimeout)
	testutil.WaitFor(t, dayTwoTimeout, func() error { return checkPeers(t, c.nodes[0].http(), c.nodes) })
	for _, n := range c.nodes {
		c.stop(n)
	}
	back := c.nodes[:2]
	for _, n := range back {
		c.start(n, seeds, "-bootstrap-expect", "3")
	}
	leader := c.leaderOf(back, dayTwoTimeout)
	c.putKeys("partial", 5, back)
	// Several reconcile and autopilot rounds: the missing server stays.
	holdPeers(t, leader.http(), []string{c.nodes[0].id, c.nodes[1].id, c.nodes[2].id}, 8*time.Second)

	c.start(c.nodes[2], seeds, "-bootstrap-expect", "3")
	testutil.WaitFor(t, dayTwoTimeout, func() error { return checkPeers(t, leader.http(), c.nodes) })
	waitReady(t, c.nodes[2])
}

// clusterIDOf reads cluster_id from GET /v1/status.
func clusterIDOf(addr string) (string, error) {
	st, err := getStatus(addr)
	return st.ClusterID, err
}

// TestProcessWipedServerIsReAdded wipes a stopped server's data dir and
// starts it again with the same ID and -bootstrap-expect: it must not
// bootstrap a cluster of its own, but rejoin the existing one, with its
// cluster ID and data.
func TestProcessWipedServerIsReAdded(t *testing.T) {
	if testing.Short() {
		t.Skip("starts agent processes")
	}
	c := newProcCluster(t, "wipe", 3)
	seeds := gossipAddrs(c.nodes)
	for _, n := range c.nodes {
		c.start(n, seeds, "-bootstrap-expect", "3")
	}
	c.leaderOf(c.nodes, dayTwoTimeout)
	keys := c.putKeys("wiped", 10, c.nodes)
	want, err := clusterIDOf(c.nodes[0].http())
	if err != nil || want == "" {
		t.Fatalf("cluster ID %q: %v", want, err)
	}

	wiped := c.nodes[2]
	c.stop(wiped)
	if err := os.RemoveAll(filepath.Join(wiped.dir, "data")); err != nil {
		t.Fatal(err)
	}
	c.start(wiped, seeds, "-bootstrap-expect", "3")
	testutil.WaitFor(t, dayTwoTimeout, func() error {
		got, err := clusterIDOf(wiped.http())
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("wiped server's cluster ID is %q, want %q", got, want)
		}
		return nil
	})
	leader := c.leaderOf(c.nodes, dayTwoTimeout)
	testutil.WaitFor(t, dayTwoTimeout, func() error { return checkPeers(t, leader.http(), c.nodes) })
	waitReady(t, wiped)
	for k, v := range keys {
		got, found, err := getKV(wiped.http(), k, true)
		if err != nil || !found || got != v {
			t.Errorf("%s on the wiped server = %q (found %v, err %v), want %q", k, got, found, err, v)
		}
	}
}
