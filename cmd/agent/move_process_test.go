package main

import (
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

// TestProcessesAllMoveToNewAddresses stops three servers and starts them
// again, with their data, all at new loopback addresses (a StatefulSet
// after a full restart): the servers dial each other by ID through gossip,
// so a leader is elected although every address in the Raft configuration
// is stale; every key reads back and the configuration shows the new
// addresses.
func TestProcessesAllMoveToNewAddresses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts agent processes")
	}
	c := newProcCluster(t, "mv", 3)
	for _, n := range c.nodes {
		c.start(n, []string{c.nodes[0].gossipAddr()}, "-bootstrap-expect", "3")
	}
	c.leaderOf(c.nodes, dayTwoTimeout)
	keys := c.putKeys("before", 20, c.nodes)
	for _, n := range c.nodes {
		c.stop(n)
	}

	for i, n := range c.nodes {
		n.ip = "127.0.0." + string(rune('2'+i)) // 127.0.0.2, .3, .4
	}
	start := time.Now()
	for _, n := range c.nodes {
		c.start(n, gossipAddrs(c.nodes), "-bootstrap-expect", "3")
	}
	leader := c.leaderOf(c.nodes, dayTwoTimeout)
	elected := time.Since(start)
	testutil.WaitFor(t, dayTwoTimeout, func() error { return checkKeys(leader, keys) })
	testutil.WaitFor(t, dayTwoTimeout, func() error {
		for _, n := range c.nodes {
			if err := checkPeers(t, n.http(), c.nodes); err != nil {
				return err
			}
		}
		return nil
	})
	t.Logf("all servers moved: leader after %s, keys and new addresses after %s",
		elected.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if elected > 30*time.Second {
		t.Errorf("a leader took %s after every server moved, want under 30s", elected)
	}
	for _, n := range c.nodes {
		if err := checkKeys(n, keys); err != nil {
			t.Error(err)
		}
	}
}

// TestProcessMovesToNewAddress moves one server of three to a new address
// while the others run: it is a voter at its new address again within
// seconds, with no removal and re-add.
func TestProcessMovesToNewAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("starts agent processes")
	}
	c := newProcCluster(t, "mv1-", 3)
	seed := []string{c.nodes[0].gossipAddr()}
	for _, n := range c.nodes {
		c.start(n, seed, "-bootstrap-expect", "3")
	}
	c.leaderOf(c.nodes, dayTwoTimeout)
	testutil.WaitFor(t, dayTwoTimeout, func() error { return checkPeers(t, c.nodes[0].http(), c.nodes) })
	keys := c.putKeys("before", 10, c.nodes)

	moved := c.nodes[2]
	c.stop(moved)
	moved.ip = "127.0.0.13"
	c.start(moved, seed, "-bootstrap-expect", "3")
	start := time.Now()
	testutil.WaitFor(t, dayTwoTimeout, func() error { return checkPeers(t, c.nodes[0].http(), c.nodes) })
	took := time.Since(start)
	t.Logf("moved server is a voter at its new address %s after its start (%s after it stopped)",
		took.Round(time.Millisecond), time.Since(moved.stopAt).Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("the moved server took %s to be a voter at its new address, want a few seconds", took)
	}
	testutil.WaitFor(t, dayTwoTimeout, func() error { return checkKeys(moved, keys) })
}
