package agent_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/agent/httpapi"
)

// blockingAnswer is one answered blocking read and when it arrived.
type blockingAnswer struct {
	res httpResult
	at  time.Time
}

// blockingGet starts a blocking read in the background.
func blockingGet(t *testing.T, url string) <-chan blockingAnswer {
	out := make(chan blockingAnswer, 1)
	go func() {
		res := httpDo(t, "GET", url, "")
		out <- blockingAnswer{res: res, at: time.Now()}
	}()
	return out
}

// putKey writes key through n and returns the commit index.
func putKey(t *testing.T, n *agenttest.Node, key, value string) (uint64, time.Time) {
	t.Helper()
	res := httpDo(t, "PUT", kvURL(n, key, ""), value)
	var w httpapi.KVWrite
	if res.code != 200 || json.Unmarshal(res.body, &w) != nil || !w.OK {
		t.Fatalf("put %s: %d %s", key, res.code, res.body)
	}
	return w.Index, time.Now()
}

func deleteKey(t *testing.T, n *agenttest.Node, key string) (uint64, time.Time) {
	t.Helper()
	res := httpDo(t, "DELETE", kvURL(n, key, ""), "")
	var w httpapi.KVWrite
	if res.code != 200 || json.Unmarshal(res.body, &w) != nil || !w.OK {
		t.Fatalf("delete %s: %d %s", key, res.code, res.body)
	}
	return w.Index, time.Now()
}

// expectAnswer waits (generously) for a blocking read's answer and checks
// its status and index; it returns the answer and its lag after ackedAt.
func expectAnswer(t *testing.T, ch <-chan blockingAnswer, code int, index uint64, ackedAt time.Time) (httpResult, time.Duration) {
	t.Helper()
	select {
	case a := <-ch:
		if a.res.code != code || a.res.header.Get(httpapi.HeaderIndex) != strconv.FormatUint(index, 10) {
			t.Fatalf("answer %d index %s (%s), want %d index %d", a.res.code, a.res.header.Get(httpapi.HeaderIndex), a.res.body, code, index)
		}
		return a.res, a.at.Sub(ackedAt)
	case <-time.After(30 * time.Second):
		t.Fatalf("no answer (want index %d)", index)
	}
	return httpResult{}, 0
}

// expectPending fails if the blocking read has answered: called after
// unrelated writes were acknowledged, and again after a stale read on the
// serving node shows them applied there.
func expectPending(t *testing.T, ch <-chan blockingAnswer) {
	t.Helper()
	select {
	case a := <-ch:
		t.Fatalf("answered early: %d index %s %s", a.res.code, a.res.header.Get(httpapi.HeaderIndex), a.res.body)
	default:
	}
}

func TestBlockingReadWakesOnItsKeyOnly(t *testing.T) {
	nodes := startExpectCluster(t, 3, nil)
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	leader := agenttest.Leader(nodes...)
	var follower *agenttest.Node
	for _, n := range nodes {
		if n != leader {
			follower = n
		}
	}
	// The index a plain read of a missing key answers with, passed back,
	// must block too: it once was raft's applied index, which counts
	// entries the store never sees (a new leader's no-op, configuration
	// changes), so the store took it for an index from before a restore
	// and answered at once, over and over.
	t.Run("missing key, index from a plain read", func(t *testing.T) {
		res := httpDo(t, "GET", kvURL(leader, "app/missing", ""), "")
		after, err := strconv.ParseUint(res.header.Get(httpapi.HeaderIndex), 10, 64)
		if res.code != 404 || err != nil || after == 0 {
			t.Fatalf("plain read of a missing key: %d index %q", res.code, res.header.Get(httpapi.HeaderIndex))
		}
		ch := blockingGet(t, kvURL(leader, "app/missing", fmt.Sprintf("index=%d&wait=60s", after)))
		putKey(t, leader, "app/unrelated", "x")
		waitApplied(t, follower, leader)
		expectPending(t, ch)
		idx, at := putKey(t, leader, "app/missing", "here")
		expectAnswer(t, ch, 200, idx, at)
	})
	i1, _ := putKey(t, leader, "app/k", "1")
	for name, query := range map[string]string{"linearizable via a follower": "", "stale on a follower": "stale&"} {
		t.Run(name, func(t *testing.T) {
			waitApplied(t, follower, leader) // a stale index=0 read must see the last subtest's write
			res := httpDo(t, "GET", kvURL(follower, "app/k", query+"index=0"), "")
			after, _ := strconv.ParseUint(res.header.Get(httpapi.HeaderIndex), 10, 64)
			if res.code != 200 || after < i1 {
				t.Fatalf("index=0: %d index %d, want at least %d", res.code, after, i1)
			}
			ch := blockingGet(t, kvURL(follower, "app/k", fmt.Sprintf("%sindex=%d&wait=60s", query, after)))
			putKey(t, leader, "app/other", "x")
			putKey(t, leader, "app/k2", "x")
			putKey(t, leader, "zzz", "x")
			// Once the follower has applied them, it has had every chance.
			waitApplied(t, follower, leader)
			expectPending(t, ch)
			idx, at := putKey(t, leader, "app/k", "2")
			got, lag := expectAnswer(t, ch, 200, idx, at)
			var e httpapi.KVEntry
			if json.Unmarshal(got.body, &e) != nil || string(e.Value) != "2" {
				t.Fatalf("woke with %s", got.body)
			}
			t.Logf("woke %s after the write was acknowledged", lag)
		})
	}
}

// waitApplied polls until follower has applied everything leader has.
func waitApplied(t *testing.T, follower, leader *agenttest.Node) {
	t.Helper()
	want := leader.Raft().AppliedIndex()
	deadline := time.Now().Add(20 * time.Second)
	for follower.Raft().AppliedIndex() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s applied %d, leader %d", follower.ID, follower.Raft().AppliedIndex(), want)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

func TestBlockingPrefixReadSeesDelete(t *testing.T) {
	nodes := startExpectCluster(t, 3, nil)
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	leader := agenttest.Leader(nodes...)
	putKey(t, leader, "svc/a", "1")
	i2, _ := putKey(t, leader, "svc/b", "1")
	putKey(t, leader, "svcx", "1") // shares the bytes "svc" but not the prefix "svc/"
	ch := blockingGet(t, kvURL(nodes[2], "", fmt.Sprintf("prefix=svc/&index=%d&wait=60s", i2)))
	putKey(t, leader, "svcx", "2")
	waitApplied(t, nodes[2], leader)
	expectPending(t, ch)
	idx, at := deleteKey(t, leader, "svc/a")
	got, lag := expectAnswer(t, ch, 200, idx, at)
	var list []httpapi.KVEntry
	if json.Unmarshal(got.body, &list) != nil || len(list) != 1 || list[0].Key != "svc/b" {
		t.Fatalf("after the delete: %s", got.body)
	}
	t.Logf("prefix watch woke %s after the delete was acknowledged", lag)
	// A watcher that starts after the delete, holding the old index, still
	// learns of it (the tombstone), at once.
	res := httpDo(t, "GET", kvURL(nodes[1], "", fmt.Sprintf("prefix=svc/&stale&index=%d&wait=60s", i2)), "")
	if res.code != 200 || res.header.Get(httpapi.HeaderIndex) != strconv.FormatUint(idx, 10) {
		t.Fatalf("late watcher: %d index %s", res.code, res.header.Get(httpapi.HeaderIndex))
	}
	// A deleted key's own watcher: 404 with the delete's index.
	res = httpDo(t, "GET", kvURL(nodes[1], "svc/a", fmt.Sprintf("index=%d&wait=60s", i2)), "")
	if res.code != 404 || res.header.Get(httpapi.HeaderIndex) != strconv.FormatUint(idx, 10) {
		t.Fatalf("deleted key: %d index %s", res.code, res.header.Get(httpapi.HeaderIndex))
	}
}

func TestBlockingReadTimesOut(t *testing.T) {
	nodes := startExpectCluster(t, 1, nil)
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	idx, _ := putKey(t, nodes[0], "k", "1")
	start := time.Now()
	res := httpDo(t, "GET", kvURL(nodes[0], "k", fmt.Sprintf("index=%d&wait=500ms", idx)), "")
	took := time.Since(start)
	if res.code != 200 || res.header.Get(httpapi.HeaderIndex) != strconv.FormatUint(idx, 10) {
		t.Fatalf("timeout answer: %d index %s", res.code, res.header.Get(httpapi.HeaderIndex))
	}
	// wait plus at most wait/16 of spread; generous upper bound for a loaded machine.
	if took < 500*time.Millisecond || took > 10*time.Second {
		t.Fatalf("answered after %s, want about 500ms-531ms", took)
	}
	// A missing key that never existed: 404 with index 1, and blocks on it.
	res = httpDo(t, "GET", kvURL(nodes[0], "nope", "index=0"), "")
	if res.code != 404 || res.header.Get(httpapi.HeaderIndex) != "1" {
		t.Fatalf("missing key: %d index %q", res.code, res.header.Get(httpapi.HeaderIndex))
	}
	t.Logf("wait=500ms answered after %s", took)
}
