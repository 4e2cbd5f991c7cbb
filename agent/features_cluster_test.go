package agent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/agent/agenttest"
)

// TestLeaseCommandsWaitForEveryServer: with one server posing as an older
// version (it gossips no lease feature), the leader refuses lease grants
// and puts on a lease with a 503 naming that server, and none of them
// reaches the log, while plain writes go on; once the server advertises
// the feature, leases work.
func TestLeaseCommandsWaitForEveryServer(t *testing.T) {
	nodes := startExpectCluster(t, 3, nil)
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	leader := agenttest.Leader(nodes...)
	old := nodes[0]
	if old == leader {
		old = nodes[1]
	}
	agent.PoseAsVersionWithFeatures(old.Agent, 0)
	base := "http://" + leader.Agent.HTTPAddr()
	var last httpResult
	deadline := time.Now().Add(15 * time.Second)
	for {
		last = httpDoSettledExcept(t, "POST", base+"/v1/lease", `{"ttl":"10s"}`, old.ID)
		if last.code == 503 && strings.Contains(string(last.body), old.ID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("grant with an old server in the configuration: %d %s, want 503 naming %s", last.code, last.body, old.ID)
		}
		time.Sleep(50 * time.Millisecond) // gossip carries the new metadata
	}
	// Grants sent before the old metadata arrived may have gone through;
	// none may from now on.
	leases := len(leader.Agent.KV().View().Leases())
	applied := leader.Agent.KV().AppliedIndex()
	if res := httpDo(t, "POST", base+"/v1/lease", `{"ttl":"10s"}`); res.code != 503 || !strings.Contains(string(res.body), old.ID) {
		t.Fatalf("second grant: %d %s, want 503 naming %s", res.code, res.body, old.ID)
	}
	if res := httpDo(t, "PUT", kvURL(leader, "gated", "lease=1"), "v"); res.code != 503 || !strings.Contains(string(res.body), old.ID) {
		t.Fatalf("put on a lease: %d %s, want 503 naming %s", res.code, res.body, old.ID)
	}
	if n := len(leader.Agent.KV().View().Leases()); n != leases {
		t.Fatalf("%d leases exist, %d before refused grants", n, leases)
	}
	if res := httpDoSettled(t, "PUT", kvURL(leader, "plain", ""), "v"); res.code != 200 {
		t.Fatalf("plain put with an old server: %d %s", res.code, res.body)
	}
	if got := leader.Agent.KV().AppliedIndex(); got <= applied {
		t.Fatalf("applied index %d did not move past %d with the plain put", got, applied)
	}
	agent.PoseAsVersionWithFeatures(old.Agent, agent.LocalFeatures)
	deadline = time.Now().Add(15 * time.Second)
	for {
		last = httpDoSettledExcept(t, "POST", base+"/v1/lease", `{"ttl":"10s"}`, old.ID)
		if last.code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("grant once every server advertises leases: %d %s", last.code, last.body)
		}
		time.Sleep(50 * time.Millisecond) // gossip carries the new metadata
	}
}

// httpDoSettledExcept is httpDoSettled that returns at once a 503 naming
// id: the feature gate's answer, which retrying does not change.
func httpDoSettledExcept(t *testing.T, method, url, body, id string) httpResult {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res := httpDo(t, method, url, body)
		if res.code != 503 || strings.Contains(string(res.body), id) || time.Now().After(deadline) {
			return res
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}
