package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

// gossipClients is how many gossip-only agents the process test runs beside
// three servers: enough for a join storm through one seed, small enough
// for make test (the bench runs 100).
const gossipClients = 20

// clientExitLimit is how soon a gossip-only agent must exit after SIGTERM.
const clientExitLimit = 2 * time.Second

// TestProcessGossipOnlyClients starts three servers, then 20 agents with
// -server=false that all join at once: every agent lists all 23 alive, the
// Raft configuration holds only the servers and the leader keeps its term
// through the join; a client killed with SIGKILL is dead on every server
// and never enters Raft; and every client exits within 2 s of SIGTERM.
func TestProcessGossipOnlyClients(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 23 agent processes")
	}
	servers := newProcCluster(t, "srv", 3)
	seeds := gossipAddrs(servers.nodes)
	for _, n := range servers.nodes {
		servers.start(n, seeds, "-bootstrap-expect", "3")
	}
	leader := servers.leaderOf(servers.nodes, dayTwoTimeout)
	testutil.WaitFor(t, dayTwoTimeout, func() error { return checkPeers(t, leader.http(), servers.nodes) })
	before, err := getStatus(leader.http())
	if err != nil {
		t.Fatal(err)
	}
	clients := newProcCluster(t, "cli", gossipClients, "-server=false")
	began := time.Now()
	for _, n := range clients.nodes {
		clients.start(n, seeds[:1])
	}
	all := append(append([]*procNode(nil), servers.nodes...), clients.nodes...)
	testutil.WaitFor(t, dayTwoTimeout, func() error { return allSeeAll(all) })
	t.Logf("%d servers and %d clients all see all alive %s after the clients started",
		len(servers.nodes), len(clients.nodes), time.Since(began).Round(time.Millisecond))
	if err := checkPeers(t, leader.http(), servers.nodes); err != nil {
		t.Fatal(err)
	}
	after, err := getStatus(leader.http())
	if err != nil {
		t.Fatal(err)
	}
	if after.LeaderID != before.LeaderID || after.Term != before.Term {
		t.Errorf("leadership moved during the join: leader %s term %d, then leader %s term %d",
			before.LeaderID, before.Term, after.LeaderID, after.Term)
	}

	victim := clients.nodes[len(clients.nodes)-1]
	victim.proc.kill()
	killed := time.Now()
	testutil.WaitFor(t, dayTwoTimeout, func() error {
		for _, s := range servers.nodes {
			if st, err := memberStatuses(s.http()); err != nil || st[victim.id] != "dead" {
				return fmt.Errorf("%s lists %s as %q (%v)", s.id, victim.id, st[victim.id], err)
			}
		}
		return nil
	})
	t.Logf("a killed client is dead on every server %s after the kill", time.Since(killed).Round(time.Millisecond))
	if err := checkPeers(t, leader.http(), servers.nodes); err != nil {
		t.Fatal(err)
	}
	stopAllWithin(t, clients.nodes[:len(clients.nodes)-1], clientExitLimit)
}

// memberStatuses reads a node's member list as ID → status.
func memberStatuses(addr string) (map[string]string, error) {
	c, err := agentAPI(addr)
	if err != nil {
		return nil, err
	}
	ms, err := c.Members(context.Background())
	if err != nil {
		return nil, fmt.Errorf("GET /v1/members on %s: %w", addr, err)
	}
	out := make(map[string]string, len(ms))
	for _, m := range ms {
		out[m.ID] = m.Status
	}
	return out, nil
}

// allSeeAll is nil once every node lists every node alive.
func allSeeAll(nodes []*procNode) error {
	for _, n := range nodes {
		st, err := memberStatuses(n.http())
		if err != nil {
			return fmt.Errorf("%s: %w", n.id, err)
		}
		var missing []string
		for _, m := range nodes {
			if st[m.id] != "alive" {
				missing = append(missing, m.id+"="+st[m.id])
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%s does not list alive: %s", n.id, strings.Join(missing, ", "))
		}
	}
	return nil
}

// stopAllWithin sends SIGTERM to every node at once and fails for each
// that does not exit 0 within limit.
func stopAllWithin(t *testing.T, nodes []*procNode, limit time.Duration) {
	t.Helper()
	took := make([]time.Duration, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			errs[i] = n.proc.stop(30 * time.Second)
			took[i] = time.Since(began)
		}()
	}
	wg.Wait()
	for i, n := range nodes {
		if errs[i] != nil || took[i] > limit {
			t.Errorf("%s: exited %s after SIGTERM (limit %s): %v\n%s", n.id, took[i].Round(time.Millisecond), limit, errs[i], n.proc.tail())
		}
	}
	sorted := append([]time.Duration(nil), took...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	t.Logf("%d clients stopped together: exit after SIGTERM median %s, max %s", len(nodes),
		sorted[len(sorted)/2].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond))
}
