//go:build chaos_bite_stalereads

package agent_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/internal/testutil"
)

// TestBiteStaleReadsServeDefaultReadsLocally: with the tag, a follower that
// has lost its leader and its quorum still answers default reads from its
// own copy, and the answers claim to be linearizable. An untagged build
// answers 503 here (TestKVStaleReadOnLeaderlessFollowerAndBounded503).
func TestBiteStaleReadsServeDefaultReadsLocally(t *testing.T) {
	nodes := startExpectCluster(t, 3, nil)
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	for _, k := range []string{"bite/a", "bite/b"} {
		if res := httpDo(t, "PUT", kvURL(nodes[0], k, ""), "v-"+k); res.code != 200 {
			t.Fatalf("put %s: %d %s", k, res.code, res.body)
		}
	}
	leader := agenttest.Leader(nodes...)
	if leader == nil {
		t.Fatal("no leader")
	}
	var follower *agenttest.Node
	for _, n := range nodes {
		if n != leader {
			follower = n
			break
		}
	}
	testutil.WaitFor(t, formTimeout, func() error {
		res := httpDo(t, "GET", kvURL(follower, "bite/b", "stale"), "")
		if res.code != 200 {
			return fmt.Errorf("stale read on %s: %d %s", follower.ID, res.code, res.body)
		}
		return nil
	})
	for _, n := range nodes {
		if n != follower {
			n.Kill()
		}
	}
	testutil.WaitFor(t, formTimeout, func() error {
		if id := follower.Raft().LeaderID(); id != "" {
			return fmt.Errorf("%s still follows %s", follower.ID, id)
		}
		return nil
	})

	bound := follower.Config.HTTP.LeaderWait / 2
	start := time.Now()
	res := httpDo(t, "GET", kvURL(follower, "bite/a", ""), "")
	if elapsed := time.Since(start); elapsed > bound {
		t.Errorf("default read took %s without a leader; a local read takes far less than %s", elapsed, bound)
	}
	var e httpapi.KVEntry
	if res.code != 200 || json.Unmarshal(res.body, &e) != nil || string(e.Value) != "v-bite/a" {
		t.Fatalf("default read on leaderless %s: %d %s, want the local value", follower.ID, res.code, res.body)
	}
	if h := res.header.Get(httpapi.HeaderStale); h != "" {
		t.Errorf("default read carries %s: %q; it must claim to be linearizable", httpapi.HeaderStale, h)
	}

	res = httpDo(t, "GET", kvURL(follower, "", "prefix=bite/"), "")
	var list []httpapi.KVEntry
	if res.code != 200 || json.Unmarshal(res.body, &list) != nil || len(list) != 2 {
		t.Fatalf("default list on leaderless %s: %d %s, want both keys", follower.ID, res.code, res.body)
	}
	if h := res.header.Get(httpapi.HeaderStale); h != "" {
		t.Errorf("default list carries %s: %q", httpapi.HeaderStale, h)
	}

	if res := httpDo(t, "GET", kvURL(follower, "bite/missing", ""), ""); res.code != 404 || res.header.Get(httpapi.HeaderStale) != "" {
		t.Errorf("default read of a missing key: %d %v %s, want an unmarked local 404", res.code, res.header, res.body)
	}
	// An explicit ?stale read is untouched and still says so.
	if res := httpDo(t, "GET", kvURL(follower, "bite/a", "stale"), ""); res.code != 200 || res.header.Get(httpapi.HeaderStale) != "true" {
		t.Errorf("?stale read: %d %v %s, want 200 marked stale", res.code, res.header, res.body)
	}
}
