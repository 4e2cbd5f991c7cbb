//go:build chaos_bite_earlyack

package agent_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/internal/testutil"
)

// TestBiteEarlyAckAcknowledgesUncommittedWrites: with the tag, a leader that
// has lost both followers still answers writes with success at once, for
// entries that cannot commit. An untagged build answers 503 after the
// leader wait (TestKVStaleReadOnLeaderlessFollowerAndBounded503).
func TestBiteEarlyAckAcknowledgesUncommittedWrites(t *testing.T) {
	// A long leader lease keeps the leader leading for a while after its
	// followers die, so the writes below reach a leader without a quorum.
	nodes := startExpectCluster(t, 3, func(c *agent.Config) {
		c.Tuning.RaftHeartbeatTimeout = 2 * time.Second
		c.Tuning.RaftElectionTimeout = 2 * time.Second
		c.Tuning.RaftLeaderLeaseTimeout = 2 * time.Second
	})
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	leader := agenttest.Leader(nodes...)
	if leader == nil {
		t.Fatal("no leader")
	}
	if w := putKV(t, leader, "k", "", "v1"); !w.OK || w.Index == 0 {
		t.Fatalf("first put: %+v", w)
	}
	// With a quorum the entry commits. (Its index was only predicted: an
	// internal entry of the young cluster may have taken that one.)
	var first httpapi.KVEntry
	testutil.WaitFor(t, formTimeout, func() error {
		res := httpDo(t, "GET", kvURL(leader, "k", "stale"), "")
		if res.code != 200 || json.Unmarshal(res.body, &first) != nil || string(first.Value) != "v1" {
			return fmt.Errorf("leader has %d %s, want v1", res.code, res.body)
		}
		return nil
	})

	for _, n := range nodes {
		if n != leader {
			n.Kill()
		}
	}
	bound := leader.Config.HTTP.LeaderWait / 2
	start := time.Now()
	w := putKV(t, leader, "k", fmt.Sprintf("cas=%d", first.ModifyIndex), "v2")
	if elapsed := time.Since(start); elapsed > bound {
		t.Errorf("put without a quorum took %s; an early ack takes far less than %s", elapsed, bound)
	}
	if !w.OK || w.Index <= first.ModifyIndex {
		t.Fatalf("cas put without a quorum: %+v, want ok at an index above %d", w, first.ModifyIndex)
	}
	if ci := leader.Raft().Raft().CommitIndex(); ci >= w.Index {
		t.Fatalf("commit index %d reached the acknowledged index %d without a quorum", ci, w.Index)
	}
	res := httpDo(t, "GET", kvURL(leader, "k", "stale"), "")
	var e httpapi.KVEntry
	if res.code != 200 || json.Unmarshal(res.body, &e) != nil || string(e.Value) != "v1" {
		t.Errorf("acknowledged put was applied without a quorum: %d %s", res.code, res.body)
	}

	// ok is predicted from the local store: a cas against the wrong index
	// fails, one against the current index and an unconditional delete
	// succeed.
	if w2 := putKV(t, leader, "k", "cas=999999", "v3"); w2.OK || w2.Index != w.Index+1 {
		t.Errorf("cas put against a wrong index: %+v, want ok false at the next index %d", w2, w.Index+1)
	}
	if w := putKV(t, leader, "k", "cas=0", "v3"); w.OK {
		t.Errorf("cas=0 put of an existing key: %+v, want ok false", w)
	}
	if w := putKV(t, leader, "fresh", "cas=0", "v"); !w.OK {
		t.Errorf("cas=0 put of a missing key: %+v, want ok true", w)
	}
	res = httpDo(t, "DELETE", kvURL(leader, "k", ""), "")
	var d httpapi.KVWrite
	if res.code != 200 || json.Unmarshal(res.body, &d) != nil || !d.OK || d.Index == 0 {
		t.Errorf("delete without a quorum: %d %s, want ok", res.code, res.body)
	}
	if !leader.Raft().IsLeader() {
		t.Fatal("the leader stepped down during the test; the writes above may have met a follower")
	}
}

// putKV writes value to key on n and decodes the answer, failing the test
// on anything but 200.
func putKV(t *testing.T, n *agenttest.Node, key, query, value string) httpapi.KVWrite {
	t.Helper()
	res := httpDo(t, "PUT", kvURL(n, key, query), value)
	var w httpapi.KVWrite
	if res.code != 200 || json.Unmarshal(res.body, &w) != nil {
		t.Fatalf("put %s?%s via %s: %d %s", key, query, n.ID, res.code, res.body)
	}
	return w
}
