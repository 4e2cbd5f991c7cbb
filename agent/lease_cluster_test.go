package agent_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/agent/httpapi"
)

// httpDoSettled is httpDo retried while the answer is 503: a leadership
// change is something Raft may do at any time, and the API answers it with
// 503 and "retry". Every request the lease tests send this way may safely
// be repeated (a repeated grant only leaves an unused lease behind).
func httpDoSettled(t *testing.T, method, url, body string) httpResult {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res := httpDo(t, method, url, body)
		if res.code != 503 || time.Now().After(deadline) {
			return res
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}

// grantLease grants a lease through n and returns its ID and the time the
// request was sent.
func grantLease(t *testing.T, n *agenttest.Node, ttl string) (string, time.Time) {
	t.Helper()
	sent := time.Now()
	res := httpDoSettled(t, "POST", "http://"+n.Agent.HTTPAddr()+"/v1/lease", fmt.Sprintf(`{"ttl":%q}`, ttl))
	var info httpapi.LeaseInfo
	if res.code != 200 || json.Unmarshal(res.body, &info) != nil || info.ID == "" || info.TTL != ttl {
		t.Fatalf("grant: %d %s", res.code, res.body)
	}
	return info.ID, sent
}

// renewLease renews through n and returns the send time of the request.
func renewLease(t *testing.T, n *agenttest.Node, id string) time.Time {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; {
		// The send time of the renew that was acknowledged is what the
		// safety rule counts from.
		sent := time.Now()
		res := httpDo(t, "PUT", "http://"+n.Agent.HTTPAddr()+"/v1/lease/"+id+"/renew", "")
		if res.code == 200 {
			return sent
		}
		if res.code != 503 || time.Now().After(deadline) {
			t.Fatalf("renew %s: %d %s", id, res.code, res.body)
		}
	}
}

// waitGone polls n's copy (stale reads) until key is gone and returns when
// it first saw it gone.
func waitGone(t *testing.T, n *agenttest.Node, key string, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if res := httpDo(t, "GET", kvURL(n, key, "stale"), ""); res.code == 404 {
			return time.Now()
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	t.Fatalf("%s still there after %s", key, within)
	return time.Time{}
}

func TestLeaseExpiresAfterTTLAndRenewKeepsIt(t *testing.T) {
	nodes := startExpectCluster(t, 3, nil)
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	leader := agenttest.Leader(nodes...)
	follower := nodes[0]
	if follower == leader {
		follower = nodes[1]
	}
	// Unknown lease: 404.
	if res := httpDoSettled(t, "PUT", kvURL(follower, "k", "lease=999999"), "v"); res.code != 404 {
		t.Fatalf("put with an unknown lease: %d %s", res.code, res.body)
	}
	kept, _ := grantLease(t, follower, "2s")
	id, sent := grantLease(t, follower, "2s")
	for _, k := range []struct{ key, lease string }{{"tmp/a", id}, {"tmp/b", id}, {"tmp/kept", kept}} {
		if res := httpDoSettled(t, "PUT", kvURL(follower, k.key, "lease="+k.lease), "v"); res.code != 200 {
			t.Fatalf("put %s: %d %s", k.key, res.code, res.body)
		}
	}
	res := httpDoSettled(t, "GET", "http://"+follower.Agent.HTTPAddr()+"/v1/lease/"+id, "")
	var d httpapi.LeaseDetail
	if res.code != 200 || json.Unmarshal(res.body, &d) != nil || len(d.Keys) != 2 || d.TTL != "2s" {
		t.Fatalf("show: %d %s", res.code, res.body)
	}
	// Poll for tmp/a's expiry while renewing "kept" every 500ms, until
	// both tmp/a is gone and kept has lived past twice its TTL.
	var lastRenew, gone time.Time
	for gone.IsZero() || time.Since(sent) < 4*time.Second {
		if time.Since(lastRenew) >= 500*time.Millisecond {
			lastRenew = renewLease(t, follower, kept)
		}
		if res := httpDo(t, "GET", kvURL(follower, "tmp/a", "stale"), ""); res.code == 404 && gone.IsZero() {
			gone = time.Now()
		}
		if time.Since(sent) > 30*time.Second {
			t.Fatal("tmp/a still there 30s after its lease was granted")
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	if late := gone.Sub(sent.Add(2 * time.Second)); late < 0 {
		t.Fatalf("the lease's key went %s before its TTL", -late)
	} else {
		t.Logf("lease expired %s after its TTL (seen on a follower, 20ms polling)", late)
	}
	if res := httpDoSettled(t, "GET", kvURL(follower, "tmp/kept", ""), ""); res.code != 200 {
		t.Fatalf("the renewed lease's key: %d", res.code)
	}
	if res := httpDo(t, "PUT", "http://"+follower.Agent.HTTPAddr()+"/v1/lease/"+id+"/renew", ""); res.code != 404 {
		t.Fatalf("renew after expiry: %d %s", res.code, res.body)
	}
	gone = waitGone(t, follower, "tmp/kept", 30*time.Second)
	if res := httpDo(t, "GET", kvURL(follower, "tmp/b", "stale"), ""); res.code != 404 {
		t.Fatalf("tmp/b, on the expired lease: %d", res.code)
	}
	if gone.Before(lastRenew.Add(2 * time.Second)) {
		t.Fatalf("the renewed lease expired %s after its last renew, before its TTL", gone.Sub(lastRenew))
	}
	t.Logf("after the last renew the lease expired %s after its TTL", gone.Sub(lastRenew.Add(2*time.Second)))
}

func TestLeaseRevokeDeletesKeys(t *testing.T) {
	nodes := startExpectCluster(t, 1, nil)
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	n := nodes[0]
	id, _ := grantLease(t, n, "30s")
	if res := httpDoSettled(t, "PUT", kvURL(n, "x", "cas=0&lease="+id), "v"); res.code != 200 {
		t.Fatalf("put: %d %s", res.code, res.body)
	}
	if res := httpDoSettled(t, "DELETE", "http://"+n.Agent.HTTPAddr()+"/v1/lease/"+id, ""); res.code != 200 {
		t.Fatalf("revoke: %d %s", res.code, res.body)
	}
	if res := httpDoSettled(t, "GET", kvURL(n, "x", ""), ""); res.code != 404 {
		t.Fatalf("key after revoke: %d %s", res.code, res.body)
	}
	for _, method := range []string{"GET", "DELETE"} {
		if res := httpDo(t, method, "http://"+n.Agent.HTTPAddr()+"/v1/lease/"+id, ""); res.code != 404 {
			t.Fatalf("%s after revoke: %d %s", method, res.code, res.body)
		}
	}
}

// TestLeaderChangeDoesNotShortenLease renews a lease, kills the leader at
// once, and checks on the survivors that the lease's key outlives the TTL
// counted from that renew's send time, and still expires in the end.
func TestLeaderChangeDoesNotShortenLease(t *testing.T) {
	nodes := startExpectCluster(t, 3, nil)
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	leader := agenttest.Leader(nodes...)
	var survivors []*agenttest.Node
	for _, n := range nodes {
		if n != leader {
			survivors = append(survivors, n)
		}
	}
	id, _ := grantLease(t, leader, "3s")
	if res := httpDoSettled(t, "PUT", kvURL(leader, "held", "lease="+id), "v"); res.code != 200 {
		t.Fatalf("put: %d %s", res.code, res.body)
	}
	waitApplied(t, survivors[0], leader)
	renewed := renewLease(t, leader, id)
	leader.Kill()
	gone := waitGone(t, survivors[0], "held", 60*time.Second)
	if gone.Before(renewed.Add(3 * time.Second)) {
		t.Fatalf("the lease expired %s after the renew, before its 3s TTL", gone.Sub(renewed))
	}
	t.Logf("after a leader kill the lease expired %s after the renew (TTL 3s)", gone.Sub(renewed))
}
