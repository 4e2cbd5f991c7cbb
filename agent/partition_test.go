package agent_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/internal/testutil"
	"github.com/clusteragent/agent/internal/testutil/faultnet"
)

// partitionReapAfter keeps autopilot from pruning anyone: every fault in
// these tests lasts far less, so a pruned voter would be a bug.
const partitionReapAfter = 30 * time.Second

// startFaultyCluster starts n servers with bootstrap_expect n whose Raft,
// agent-to-agent and gossip traffic all go through fn, and waits until they
// have formed one cluster. IDs are prefix1..n.
func startFaultyCluster(t *testing.T, fn *faultnet.Network, prefix string, n int) []*agenttest.Node {
	t.Helper()
	nodes := startFaultyServers(t, fn, prefix, n)
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	// Formed means every member carries the cluster ID too: the first
	// leader chooses it and the others learn it through gossip.
	sameClusterID(t, nodes)
	return nodes
}

// startFaultyServers starts the servers of startFaultyCluster without
// waiting for anything.
func startFaultyServers(t *testing.T, fn *faultnet.Network, prefix string, n int) []*agenttest.Node {
	t.Helper()
	ports := testutil.FreePorts(t, n)
	var seeds []string
	for _, p := range ports {
		seeds = append(seeds, net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	}
	nodes := make([]*agenttest.Node, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range nodes {
		cfg := agenttest.Config(t, fmt.Sprintf("%s%d", prefix, i+1))
		cfg.Ports.Gossip = ports[i]
		cfg.Join = seeds
		cfg.BootstrapExpect = n
		cfg.Autopilot.DeadServerReapAfter = partitionReapAfter
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = agenttest.TryStartWith(t, cfg, agenttest.WithFaults(fn))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return nodes
}

// newFaultNet returns a Network closed after every node (cleanups run last
// registered first, and nodes are started after this).
func newFaultNet(t *testing.T) *faultnet.Network {
	fn := faultnet.NewNetwork(1)
	t.Cleanup(func() { fn.Close() })
	return fn
}

// agreedLeader returns the leader every node in nodes follows, or an error
// naming the first disagreement.
func agreedLeader(nodes ...*agenttest.Node) (*agenttest.Node, error) {
	var leader string
	for _, n := range nodes {
		id := n.Raft().LeaderID()
		switch {
		case id == "":
			return nil, fmt.Errorf("%s knows no leader", n.ID)
		case leader == "":
			leader = id
		case id != leader:
			return nil, fmt.Errorf("%s follows %s, %s follows %s", nodes[0].ID, leader, n.ID, id)
		}
	}
	for _, n := range nodes {
		if n.ID == leader {
			if !n.Raft().IsLeader() {
				return nil, fmt.Errorf("all follow %s, which is not leader", leader)
			}
			return n, nil
		}
	}
	return nil, fmt.Errorf("all follow %s, outside %v", leader, ids(nodes...))
}

// kvValue is a GET of key on n: the status, the value on 200 and whether the
// answer was marked stale.
type kvValue struct {
	code  int
	value string
	stale bool
	body  string
}

func getKV(t *testing.T, n *agenttest.Node, key, query string) kvValue {
	t.Helper()
	res := httpDo(t, "GET", kvURL(n, key, query), "")
	v := kvValue{code: res.code, body: string(res.body), stale: res.header.Get(httpapi.HeaderStale) == "true"}
	if res.code == http.StatusOK {
		var e httpapi.KVEntry
		if err := json.Unmarshal(res.body, &e); err != nil {
			t.Fatalf("GET %s on %s: %v in %s", key, n.ID, err, res.body)
		}
		v.value = string(e.Value)
	}
	return v
}

func mustPut(t *testing.T, n *agenttest.Node, key, value string) {
	t.Helper()
	res := httpDo(t, "PUT", kvURL(n, key, ""), value)
	var w httpapi.KVWrite
	if res.code != http.StatusOK || json.Unmarshal(res.body, &w) != nil || !w.OK {
		t.Fatalf("PUT %s=%s via %s: %d %s", key, value, n.ID, res.code, res.body)
	}
}

// waitConverged waits until all nodes follow one leader, every node's stale
// read of key is want, the key/value stores are identical and the Raft
// configuration still has every node as a voter; the cluster ID must still
// be clusterID everywhere.
func waitConverged(t *testing.T, nodes []*agenttest.Node, clusterID, key, want string) {
	t.Helper()
	for _, n := range nodes {
		if got := n.Agent.ClusterID(); got != clusterID {
			t.Errorf("%s has cluster ID %q after the fault, want %q", n.ID, got, clusterID)
		}
	}
	testutil.WaitFor(t, formTimeout, func() error {
		if _, err := agreedLeader(nodes...); err != nil {
			return err
		}
		for _, n := range nodes {
			if v := getKV(t, n, key, "stale"); v.code != http.StatusOK || v.value != want {
				return fmt.Errorf("stale read of %s on %s: %d %q, want %q", key, n.ID, v.code, v.value, want)
			}
		}
		h := nodes[0].Agent.KV().Hash()
		for _, n := range nodes[1:] {
			if got := n.Agent.KV().Hash(); got != h {
				return fmt.Errorf("kv hash of %s (applied %d) differs from %s (applied %d)",
					n.ID, n.Agent.KV().AppliedIndex(), nodes[0].ID, nodes[0].Agent.KV().AppliedIndex())
			}
		}
		return nil
	})
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
}

func others(nodes []*agenttest.Node, skip *agenttest.Node) []*agenttest.Node {
	var out []*agenttest.Node
	for _, n := range nodes {
		if n != skip {
			out = append(out, n)
		}
	}
	return out
}

// TestPartitionLeaderAwayAndHeal isolates the leader from both followers.
// The majority must elect a new leader and take writes; the old leader must
// not serve its old value as current; after healing everyone converges.
func TestPartitionLeaderAwayAndHeal(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	fn := newFaultNet(t)
	nodes := startFaultyCluster(t, fn, "ps", 3)
	clusterID := nodes[0].Agent.ClusterID()
	old := agenttest.Leader(nodes...)
	if old == nil {
		t.Fatal("no leader after formation")
	}
	mustPut(t, old, "k", "v1")

	majority := others(nodes, old)
	if err := fn.Partition([]string{old.ID}, ids(majority...)); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, formTimeout, func() error {
		_, err := agreedLeader(majority...)
		return err
	})
	mustPut(t, majority[0], "k", "v2")

	// A linearizable read on the old leader must not answer v1 as current:
	// it has no quorum, so it must fail within the leader wait.
	wait := old.Config.HTTP.LeaderWait
	start := time.Now()
	lin := getKV(t, old, "k", "")
	elapsed := time.Since(start)
	t.Logf("linearizable read on the isolated old leader: %d after %s: %s", lin.code, elapsed.Round(time.Millisecond), lin.body)
	if lin.code == http.StatusOK {
		t.Fatalf("linearizable read on the isolated old leader answered %q (stale=%v)", lin.value, lin.stale)
	}
	if lin.code != http.StatusServiceUnavailable && lin.code != http.StatusBadGateway && lin.code != http.StatusGatewayTimeout {
		t.Errorf("linearizable read on the isolated old leader: %d %s, want 503 (or a failed forward)", lin.code, lin.body)
	}
	if elapsed > wait+3*time.Second {
		t.Errorf("linearizable read on the isolated old leader took %s; leader wait is %s", elapsed, wait)
	}
	if st := getKV(t, old, "k", "stale"); st.code != http.StatusOK || st.value != "v1" || !st.stale {
		t.Errorf("stale read on the isolated old leader: %d %q stale=%v, want v1 marked stale", st.code, st.value, st.stale)
	}

	fn.Heal()
	waitConverged(t, nodes, clusterID, "k", "v2")
}

// TestPartitionOneWayCutFollowerToLeader drops everything a follower sends
// to the leader. The leader keeps a quorum with the other follower and must
// keep taking writes; after healing the cut follower catches up.
func TestPartitionOneWayCutFollowerToLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	fn := newFaultNet(t)
	nodes := startFaultyCluster(t, fn, "pc", 3)
	clusterID := nodes[0].Agent.ClusterID()
	leader := agenttest.Leader(nodes...)
	if leader == nil {
		t.Fatal("no leader after formation")
	}
	cut := others(nodes, leader)[0]
	if err := fn.Cut(cut.ID, leader.ID); err != nil {
		t.Fatal(err)
	}
	// Keep writing for several election timeouts, so the cut lasts long
	// enough for the follower to miss heartbeat answers and (without
	// pre-vote) start elections. Every write must succeed.
	hold := 4 * leader.Config.Tuning.RaftElectionTimeout
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last string
	for i, start := 0, time.Now(); i < 5 || time.Since(start) < hold; i++ {
		last = fmt.Sprintf("w%d", i)
		mustPut(t, leader, "k", last)
		<-tick.C // paces the writes; the cut is held by the loop's duration
	}
	t.Logf("cut %s -> %s: wrote up to %s; leader now %q", cut.ID, leader.ID, last, leader.Raft().LeaderID())
	fn.Heal()
	waitConverged(t, nodes, clusterID, "k", last)
}

// TestPartitionBeforeClusterIDSpreads isolates the first leader as soon as
// it has the cluster ID, before gossip can have carried the ID to the
// followers. (This once split one Raft cluster into two IDs; the ID now
// travels through the Raft log.) The majority's new leader must not choose a second ID: one
// Raft cluster must keep one cluster ID, or gossip refuses the old leader
// for good after healing.
func TestPartitionBeforeClusterIDSpreads(t *testing.T) {
	fn := newFaultNet(t)
	nodes := startFaultyServers(t, fn, "pb", 3)
	var first *agenttest.Node
	testutil.WaitFor(t, formTimeout, func() error {
		if first = agenttest.Leader(nodes...); first == nil || first.Agent.ClusterID() == "" {
			return fmt.Errorf("no leader with a cluster ID yet")
		}
		return nil
	})
	majority := others(nodes, first)
	if err := fn.Partition([]string{first.ID}, ids(majority...)); err != nil {
		t.Fatal(err)
	}
	for _, n := range majority {
		t.Logf("at the partition %s had cluster ID %q, the first leader %s had %q", n.ID, n.Agent.ClusterID(), first.ID, first.Agent.ClusterID())
	}
	var second *agenttest.Node
	testutil.WaitFor(t, formTimeout, func() error {
		var err error
		if second, err = agreedLeader(majority...); err == nil && second.Agent.ClusterID() == "" {
			return fmt.Errorf("new leader %s has no cluster ID yet", second.ID)
		}
		return err
	})
	t.Logf("new leader %s has cluster ID %q", second.ID, second.Agent.ClusterID())
	mustPut(t, second, "k", "v")
	fn.Heal()
	if id := sameClusterID(t, nodes); id != first.Agent.ClusterID() {
		t.Errorf("cluster ID is %q after healing, the first leader chose %q", id, first.Agent.ClusterID())
	}
	waitConverged(t, nodes, first.Agent.ClusterID(), "k", "v")
}
