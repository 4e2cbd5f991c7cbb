package raftnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"go.uber.org/goleak"

	"github.com/clusteragent/agent/internal/testutil"
	"github.com/clusteragent/agent/raftnode/raftnodetest"
)

// TestMain fails the package if any goroutine outlives the tests: every node
// is closed in t.Cleanup, and Close must stop everything it started.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const waitTimeout = 15 * time.Second

// testNode is a Node with its recording FSM and options, for restarts.
type testNode struct {
	*Node
	fsm  *raftnodetest.FSM
	opts Options
}

// testLogger discards logs unless RAFTNODE_TEST_LOG is set: raft's
// transport can log from its connection goroutines just after a test ends,
// where t.Log would panic.
func testLogger(name string) hclog.Logger {
	if os.Getenv("RAFTNODE_TEST_LOG") == "" {
		return hclog.NewNullLogger()
	}
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Debug, Output: os.Stderr})
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// baseOptions returns loopback options for id on a fresh listener and data
// dir.
func baseOptions(t *testing.T, id string) Options {
	t.Helper()
	o := Options{
		NodeID:   id,
		Listener: listen(t),
		DataDir:  t.TempDir(),
		FSM:      raftnodetest.NewFSM(),
		Logger:   testLogger(id),
		LogStore: testLogStore(),
		// Small segments: tests rotate them, and many nodes' preallocated
		// segments stay cheap on disk.
		WALSegmentSize: 256 << 10,
	}
	o.SetLoopbackTimers()
	return o
}

// testLogStore is the log store the suite runs on: AGENT_TEST_LOG_STORE
// (wal or boltdb), default wal. make test runs the suite once per store.
func testLogStore() string {
	if s := os.Getenv("AGENT_TEST_LOG_STORE"); s != "" {
		return s
	}
	return LogStoreWAL
}

// startNode opens a node and closes it when the test ends.
func startNode(t *testing.T, o Options) *testNode {
	t.Helper()
	n, err := NewNode(o)
	if err != nil {
		t.Fatalf("NewNode(%s): %v", o.NodeID, err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("Close(%s): %v", o.NodeID, err)
		}
	})
	return &testNode{Node: n, fsm: o.FSM.(*raftnodetest.FSM), opts: o}
}

// startCluster starts len(ids) nodes with each other as static peers, in
// descending ID order so the bootstrapping (lowest) node comes last. mutate
// may adjust each node's options.
func startCluster(t *testing.T, ids []string, mutate func(*Options)) []*testNode {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-node test skipped in -short mode")
	}
	opts := make([]Options, len(ids))
	peers := make(map[string]string, len(ids))
	for i, id := range ids {
		opts[i] = baseOptions(t, id)
		peers[id] = opts[i].Listener.Addr().String()
	}
	sort.Slice(opts, func(i, j int) bool { return opts[i].NodeID > opts[j].NodeID })
	nodes := make([]*testNode, len(ids))
	for i := range opts {
		opts[i].Peers = peers
		if mutate != nil {
			mutate(&opts[i])
		}
		nodes[i] = startNode(t, opts[i])
	}
	return nodes
}

// waitLeader waits until exactly one node leads and all agree on it.
func waitLeader(t *testing.T, nodes ...*testNode) *testNode {
	t.Helper()
	var leader *testNode
	testutil.WaitFor(t, waitTimeout, func() error {
		leader = nil
		var states []string
		for _, n := range nodes {
			st := n.Status()
			states = append(states, fmt.Sprintf("%s=%s(leader %q, term %d)", n.NodeID(), st.State, st.LeaderID, st.Term))
			if st.State == "leader" {
				if leader != nil {
					return fmt.Errorf("two leaders: %s", strings.Join(states, ", "))
				}
				leader = n
			}
		}
		if leader == nil {
			return fmt.Errorf("no leader: %s", strings.Join(states, ", "))
		}
		for _, n := range nodes {
			if n.LeaderID() != leader.NodeID() {
				return fmt.Errorf("not all agree on leader %s: %s", leader.NodeID(), strings.Join(states, ", "))
			}
		}
		return nil
	})
	return leader
}

// waitApplied waits until every node's FSM holds want commands.
func waitApplied(t *testing.T, want int, nodes ...*testNode) {
	t.Helper()
	testutil.WaitFor(t, waitTimeout, func() error {
		for _, n := range nodes {
			if got := n.fsm.Len(); got != want {
				return fmt.Errorf("%s applied %d commands, want %d", n.NodeID(), got, want)
			}
		}
		return nil
	})
}

// applyN commits n commands "prefix-i" through node.
func applyN(t *testing.T, node *testNode, prefix string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := node.ApplyBytes(ctxT(t), []byte(fmt.Sprintf("%s-%d", prefix, i))); err != nil {
			t.Fatalf("apply %s-%d on %s: %v", prefix, i, node.NodeID(), err)
		}
	}
}

// applyCluster commits n commands "prefix-i" through whichever of nodes
// leads, each exactly once, and returns the leader that committed the last.
// A leadership change is Raft doing its job, not a failure (a loaded machine
// delays heartbeats): a command whose leader lost its term may or may not
// have committed, so the next leader's barrier settles which before the
// command is sent again.
func applyCluster(t *testing.T, nodes []*testNode, prefix string, n int) *testNode {
	t.Helper()
	return applyEach(t, nodes, n, func(i int) []byte { return []byte(fmt.Sprintf("%s-%d", prefix, i)) })
}

// applyEach is applyCluster for the commands cmdOf(0..n-1), which must be
// distinct.
func applyEach(t *testing.T, nodes []*testNode, n int, cmdOf func(int) []byte) *testNode {
	t.Helper()
	leader := waitLeader(t, nodes...)
	for i := 0; i < n; i++ {
		cmd := cmdOf(i)
		unsure := false
		testutil.WaitFor(t, waitTimeout, func() error {
			if unsure {
				leader = waitLeader(t, nodes...)
				if err := leader.Barrier(ctxT(t)); err != nil {
					return fmt.Errorf("barrier on %s after a lost apply: %w", leader.NodeID(), err)
				}
				if leader.fsm.Has(cmd) {
					return nil
				}
				unsure = false
			}
			_, err := leader.ApplyBytes(ctxT(t), cmd)
			switch {
			case err == nil:
				return nil
			case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, ErrNotLeader):
				unsure = true
				return fmt.Errorf("apply %s on %s: %w", cmd, leader.NodeID(), err)
			default:
				t.Fatalf("apply %s on %s: %v", cmd, leader.NodeID(), err)
				return nil
			}
		})
	}
	return leader
}

// onLeader runs op on whichever of nodes leads, again on the next leader
// when leadership moves under it (a loaded machine delays heartbeats), and
// returns the leader it succeeded on. op must be safe to repeat, as
// configuration changes are. Any other error fails the test.
func onLeader(t *testing.T, nodes []*testNode, what string, op func(leader *testNode) error) *testNode {
	t.Helper()
	var leader *testNode
	testutil.WaitFor(t, waitTimeout, func() error {
		leader = waitLeader(t, nodes...)
		err := op(leader)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, ErrNotLeader),
			errors.Is(err, raft.ErrLeadershipTransferInProgress):
			return fmt.Errorf("%s on %s: %w", what, leader.NodeID(), err)
		default:
			t.Fatalf("%s on %s: %v", what, leader.NodeID(), err)
			return nil
		}
	})
	return leader
}

// ctxT is a context bounded by the test's own wait budget.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// others returns nodes minus n.
func others(nodes []*testNode, n *testNode) []*testNode {
	var out []*testNode
	for _, m := range nodes {
		if m != n {
			out = append(out, m)
		}
	}
	return out
}

// suffrages maps id -> suffrage in n's configuration.
func suffrages(t *testing.T, n *testNode) map[string]string {
	t.Helper()
	cfg, err := n.GetConfiguration(ctxT(t))
	if err != nil {
		t.Fatalf("GetConfiguration on %s: %v", n.NodeID(), err)
	}
	out := make(map[string]string, len(cfg.Servers))
	for _, s := range cfg.Servers {
		out[s.ID] = s.Suffrage
	}
	return out
}

// fakeListener satisfies net.Listener for Validate-only tests.
type fakeListener struct{}

func (fakeListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (fakeListener) Close() error              { return nil }
func (fakeListener) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
