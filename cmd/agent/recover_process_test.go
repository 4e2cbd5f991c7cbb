package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

// fastAutopilotConfig writes a config file that promotes a new server after
// one second of health instead of ten, so the tests see it happen quickly.
func fastAutopilotConfig(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "fast.hcl")
	if err := os.WriteFile(path, []byte("autopilot {\n  server_stabilization_time = \"1s\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitCaughtUp waits until every node has applied the leader's commit
// index, so no acknowledged write exists only on the nodes about to die.
func (c *procCluster) waitCaughtUp(nodes []*procNode) {
	c.t.Helper()
	testutil.WaitFor(c.t, dayTwoTimeout, func() error {
		leader := c.leaderOf(nodes, dayTwoTimeout)
		st, err := getStatus(leader.http())
		if err != nil {
			return err
		}
		for _, n := range nodes {
			ns, err := getStatus(n.http())
			if err != nil {
				return err
			}
			if ns.AppliedIndex < st.CommitIndex {
				return fmt.Errorf("%s applied %d, leader committed %d", n.id, ns.AppliedIndex, st.CommitIndex)
			}
		}
		return nil
	})
}

// TestProcessOutageRecovery loses three servers of five for good, recovers
// the two survivors to a cluster of two with `agent raft recover`, and
// checks that every acknowledged write is there and that autopilot grows
// the cluster back as new servers join.
func TestProcessOutageRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts agent processes")
	}
	c := newProcCluster(t, "rec", 7, "-config", fastAutopilotConfig(t))
	five, fresh := c.nodes[:5], c.nodes[5:]
	for _, n := range five {
		c.start(n, []string{five[0].gossipAddr()}, "-bootstrap-expect", "5")
	}
	c.leaderOf(five, dayTwoTimeout)
	w := startKVWriter("rec", []string{five[0].http(), five[3].http(), five[4].http()}, 3, 200, time.Now().Add(20*time.Second))
	waitAcked(t, w, 100)
	w.Stop()
	c.waitCaughtUp(five)

	for _, n := range five[:3] {
		n.proc.kill()
	}
	survivors := five[3:]
	for _, n := range survivors {
		c.stop(n)
	}
	var peerArgs []string
	for _, n := range survivors {
		peerArgs = append(peerArgs, "-peer", n.id+"="+n.raftAddr())
	}
	start := time.Now()
	for _, n := range survivors {
		args := append([]string{"raft", "recover", "-data-dir", filepath.Join(n.dir, "data"), "-yes"}, peerArgs...)
		code, out, errOut := runBinary(t, args...)
		if code != 0 || !strings.Contains(out, five[0].id) || !strings.Contains(out, "Recovered") {
			t.Fatalf("raft recover on %s: exit %d\n%s\n%s", n.id, code, out, errOut)
		}
	}
	for _, n := range survivors {
		c.start(n, gossipAddrs(survivors))
	}
	leader := c.leaderOf(survivors, dayTwoTimeout)
	t.Logf("recovered: leader of two %s after the first recover command", time.Since(start).Round(time.Millisecond))
	checkAllAcked(t, w, leader, survivors)

	for _, n := range fresh {
		c.start(n, gossipAddrs(survivors))
	}
	testutil.WaitFor(t, dayTwoTimeout, func() error {
		return checkPeers(t, leader.http(), append(append([]*procNode{}, survivors...), fresh...))
	})
	t.Logf("grown back to four voters %s after the first recover command", time.Since(start).Round(time.Millisecond))
	if err := putKV(leader.http(), "rec/after", "x"); err != nil {
		t.Error(err)
	}
}

// checkAllAcked reads every key w wrote, linearizably through leader and
// then from each node's own copy once it has caught up, against w's
// acknowledged history.
func checkAllAcked(t *testing.T, w *kvWriter, leader *procNode, nodes []*procNode) {
	t.Helper()
	for _, key := range w.keys() {
		testutil.WaitFor(t, dayTwoTimeout, func() error {
			got, found, err := getKV(leader.http(), key, false)
			if err != nil {
				return err
			}
			if ok, cerr := w.check(key, got); ok && (!found || cerr != nil) {
				return fmt.Errorf("found %v: %v", found, cerr)
			}
			return nil
		})
		for _, n := range nodes {
			// A follower may still be applying: wait for it to converge.
			testutil.WaitFor(t, dayTwoTimeout, func() error {
				got, _, err := getKV(n.http(), key, true)
				if err != nil {
					return err
				}
				if _, cerr := w.check(key, got); cerr != nil {
					return fmt.Errorf("%s: %v", n.id, cerr)
				}
				return nil
			})
		}
	}
}
