package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

// dayTwoTimeout bounds each wait of the day-2 process tests: generous, for
// a loaded two-core machine; the figures the tests measure are logged and
// checked separately.
const dayTwoTimeout = 60 * time.Second

// procNode is one server of a procCluster: its ID, data dir and ports stay,
// its loopback IP may change between runs.
type procNode struct {
	id     string
	dir    string
	ip     string
	ports  [3]int // gossip, raft, http
	runs   int
	proc   *agentProc
	extra  []string // flags for every run
	stopAt time.Time
}

func (n *procNode) gossipAddr() string { return n.ip + ":" + strconv.Itoa(n.ports[0]) }
func (n *procNode) raftAddr() string   { return n.ip + ":" + strconv.Itoa(n.ports[1]) }
func (n *procNode) http() string       { return n.ip + ":" + strconv.Itoa(n.ports[2]) }

// procCluster is a set of `agent run` processes on loopback IPs.
type procCluster struct {
	t     *testing.T
	nodes []*procNode
}

// newProcCluster prepares (does not start) n servers named prefix1..n on
// 127.0.0.1, each with its own data dir and ports.
func newProcCluster(t *testing.T, prefix string, n int, extra ...string) *procCluster {
	ports := testutil.FreePorts(t, 3*n)
	c := &procCluster{t: t}
	for i := 0; i < n; i++ {
		c.nodes = append(c.nodes, &procNode{
			id: prefix + strconv.Itoa(i+1), dir: t.TempDir(), ip: "127.0.0.1",
			ports: [3]int{ports[3*i], ports[3*i+1], ports[3*i+2]}, extra: extra,
		})
	}
	return c
}

// start (re)starts node n on its data dir at its current IP, joining join.
func (c *procCluster) start(n *procNode, join []string, args ...string) {
	n.runs++
	all := []string{"-bind", n.ip, "-advertise", n.ip,
		"-gossip-port", strconv.Itoa(n.ports[0]), "-raft-port", strconv.Itoa(n.ports[1]), "-http-addr", n.http()}
	for _, j := range join {
		all = append(all, "-join", j)
	}
	all = append(append(all, n.extra...), args...)
	n.proc = startProcIn(c.t, n.id, filepath.Join(n.dir, "data"), filepath.Join(n.dir, fmt.Sprintf("%s-run%d.log", n.id, n.runs)), all...)
	n.proc.http = n.http()
}

// stop stops node n with SIGTERM and checks it exits 0.
func (c *procCluster) stop(n *procNode) {
	c.t.Helper()
	if err := n.proc.stop(30 * time.Second); err != nil {
		c.t.Fatalf("%s: %v\n%s", n.id, err, n.proc.tail())
	}
	n.stopAt = time.Now()
}

// gossipAddrs lists the gossip addresses of nodes.
func gossipAddrs(nodes []*procNode) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.gossipAddr())
	}
	return out
}

// leaderOf waits until every node in nodes agrees on a leader and returns
// it; timeout bounds the wait.
func (c *procCluster) leaderOf(nodes []*procNode, timeout time.Duration) *procNode {
	c.t.Helper()
	var leader *procNode
	testutil.WaitFor(c.t, timeout, func() error {
		leader = nil
		var seen []string
		for _, n := range nodes {
			st, err := getStatus(n.http())
			if err != nil {
				return err
			}
			seen = append(seen, fmt.Sprintf("%s=%s(leader %q)", n.id, st.State, st.LeaderID))
			if st.LeaderID == "" || (leader != nil && leader.id != st.LeaderID) {
				return fmt.Errorf("no agreed leader: %s", strings.Join(seen, ", "))
			}
			leader = c.byID(st.LeaderID)
		}
		if leader == nil {
			return fmt.Errorf("leader unknown: %s", strings.Join(seen, ", "))
		}
		return nil
	})
	return leader
}

func (c *procCluster) byID(id string) *procNode {
	for _, n := range c.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// raftServer is one entry of GET /v1/raft/configuration.
type raftServer struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	Suffrage string `json:"suffrage"`
	Leader   bool   `json:"leader"`
}

// raftPeers runs `agent raft peers -json` against addr.
func raftPeers(t *testing.T, addr string) ([]raftServer, error) {
	code, out, errOut := runBinary(t, "raft", "peers", "-json", "-http-addr", addr)
	if code != 0 {
		return nil, fmt.Errorf("raft peers on %s: exit %d: %s", addr, code, strings.TrimSpace(errOut))
	}
	var cfg struct {
		Servers []raftServer `json:"servers"`
	}
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		return nil, fmt.Errorf("raft peers -json: %v: %q", err, out)
	}
	return cfg.Servers, nil
}

// checkPeers reports nil when addr's Raft configuration holds exactly the
// given nodes as voters at their current addresses.
func checkPeers(t *testing.T, addr string, voters []*procNode) error {
	servers, err := raftPeers(t, addr)
	if err != nil {
		return err
	}
	want := make(map[string]string)
	for _, n := range voters {
		want[n.id] = n.raftAddr()
	}
	got := 0
	for _, s := range servers {
		if s.Suffrage == "voter" && want[s.ID] == s.Address {
			got++
		}
	}
	if got != len(voters) || len(servers) != len(voters) {
		return fmt.Errorf("configuration on %s is %+v, want voters %v", addr, servers, want)
	}
	return nil
}

// putKeys writes n keys under prefix through any of nodes, retrying each
// until acknowledged, and returns them with their values.
func (c *procCluster) putKeys(prefix string, n int, nodes []*procNode) map[string]string {
	c.t.Helper()
	keys := make(map[string]string, n)
	for i := 0; i < n; i++ {
		k, v := fmt.Sprintf("%s/k%d", prefix, i), fmt.Sprintf("v%d", i)
		testutil.WaitFor(c.t, dayTwoTimeout, func() error { return putKV(nodes[i%len(nodes)].http(), k, v) })
		keys[k] = v
	}
	return keys
}

// checkKeys reads every key linearizably through node n.
func checkKeys(n *procNode, keys map[string]string) error {
	for k, want := range keys {
		got, found, err := getKV(n.http(), k, false)
		if err != nil {
			return err
		}
		if !found || got != want {
			return fmt.Errorf("%s on %s = %q (found %v), want %q", k, n.id, got, found, want)
		}
	}
	return nil
}
