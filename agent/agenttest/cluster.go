// Package agenttest starts real agents on loopback for tests: real TCP Raft
// transports, real memberlist, real BoltDB files in temp dirs, every port
// picked by the kernel. Import it only from _test.go files.
package agenttest

import (
	"context"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/internal/testutil"
	"github.com/clusteragent/agent/internal/testutil/faultnet"
	"github.com/clusteragent/agent/raftnode"
)

// Node is one agent under test.
type Node struct {
	t      testing.TB
	ID     string
	Config agent.Config
	Agent  *agent.Agent

	log     *testutil.TestLogWriter
	faults  *faultnet.Network // set by WithFaults
	logOut  *logOutput        // set by WithLogOutput
	mu      sync.Mutex
	stopped bool
}

// Config returns a loopback test config for id with its own temp data dir,
// on the log store LogStore names.
func Config(t testing.TB, id string) agent.Config {
	c := agent.LoopbackConfig(id, t.TempDir())
	c.Raft.LogStore = LogStore()
	return c
}

// LogStore is the Raft log store test clusters use: $AGENT_TEST_LOG_STORE
// (wal or boltdb), default wal. make test runs the Raft and agent suites
// once on each.
func LogStore() string {
	if s := os.Getenv("AGENT_TEST_LOG_STORE"); s != "" {
		return s
	}
	return "wal"
}

// Start builds and starts an agent; the test's cleanup stops it.
func Start(t testing.TB, cfg agent.Config) *Node {
	t.Helper()
	n, err := TryStart(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TryStart is Start for goroutines other than the test's own, which must not
// call t.Fatal: it returns the error instead.
func TryStart(t testing.TB, cfg agent.Config) (*Node, error) {
	return TryStartWith(t, cfg)
}

// StartWith is Start with options.
func StartWith(t testing.TB, cfg agent.Config, opts ...Option) *Node {
	t.Helper()
	n, err := TryStartWith(t, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TryStartWith is TryStart with options.
func TryStartWith(t testing.TB, cfg agent.Config, opts ...Option) (*Node, error) {
	n := &Node{t: t, ID: cfg.NodeID, Config: cfg, log: testutil.LogWriter(t)}
	for _, opt := range opts {
		opt(n)
	}
	if err := n.start(); err != nil {
		return nil, err
	}
	t.Cleanup(n.Stop)
	return n, nil
}

func (n *Node) start() error {
	level := hclog.Warn
	if os.Getenv("AGENT_TEST_LOG") != "" {
		level = hclog.LevelFromString(os.Getenv("AGENT_TEST_LOG"))
	}
	opts := &hclog.LoggerOptions{Name: n.ID, Level: level, Output: n.log}
	if n.logOut != nil {
		opts.Level, opts.Output, opts.JSONFormat = n.logOut.level, n.logOut.w, n.logOut.json
	}
	logger := hclog.New(opts)
	a, err := agent.New(n.Config, logger, n.agentOptions()...)
	if err != nil {
		return fmt.Errorf("agent.New(%s): %w", n.ID, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		return fmt.Errorf("agent.Start(%s): %w", n.ID, err)
	}
	n.mu.Lock()
	n.Agent, n.stopped = a, false
	n.mu.Unlock()
	n.pinPorts()
	return nil
}

// Stop shuts the agent down gracefully (leadership hand-off, no leave).
func (n *Node) Stop() {
	if a := n.take(); a != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			n.t.Logf("shutdown %s: %v", n.ID, err)
		}
	}
}

// Kill stops the agent without handing off leadership and without leaving:
// to the cluster it looks like a crash.
func (n *Node) Kill() {
	if a := n.take(); a != nil {
		a.Kill()
	}
}

// take marks the node stopped and returns the agent to stop, or nil when it
// is already stopped.
func (n *Node) take() *agent.Agent {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped || n.Agent == nil {
		return nil
	}
	n.stopped = true
	return n.Agent
}

// Restart starts the agent again with the same config, data dir and
// ports, as a restarted machine would come back. (To come back at a new
// address, start a new Node from a copy of Config with the ports zeroed.)
func (n *Node) Restart() {
	n.t.Helper()
	if err := n.TryRestart(); err != nil {
		n.t.Fatal(err)
	}
}

// TryRestart is Restart for goroutines other than the test's own: it
// returns the error instead of failing the test.
func (n *Node) TryRestart() error {
	n.Kill()
	return n.start()
}

// pinPorts records the ports the kernel picked, so Restart reuses them.
func (n *Node) pinPorts() {
	a := n.Agent
	if port := portOf(a.GossipAddr()); port != 0 {
		n.Config.Ports.Gossip = port
	}
	if a.Node() != nil {
		if port := portOf(a.Node().Addr()); port != 0 {
			n.Config.Ports.Raft = port
		}
	}
	n.Config.HTTP.Addr = a.HTTPAddr()
}

func portOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	port, _ := strconv.Atoi(p)
	return port
}

// Running reports whether the node is up.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.stopped
}

// GossipAddr is the node's gossip address, for others to join through.
func (n *Node) GossipAddr() string { return n.Agent.GossipAddr() }

// Raft returns the node's Raft node.
func (n *Node) Raft() *raftnode.Node { return n.Agent.Node() }

// Servers returns the node's view of the Raft configuration as "id:suffrage"
// strings, sorted, or an error.
func (n *Node) Servers() ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conf, err := n.Raft().GetConfiguration(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range conf.Servers {
		out = append(out, s.ID+":"+s.Suffrage)
	}
	sort.Strings(out)
	return out, nil
}

// Leader returns the running node that is leader, or nil.
func Leader(nodes ...*Node) *Node {
	for _, n := range nodes {
		if n.Running() && n.Raft() != nil && n.Raft().IsLeader() {
			return n
		}
	}
	return nil
}

// WaitForConfig waits until the leader's configuration has exactly the given
// voters and non-voters.
func WaitForConfig(t testing.TB, timeout time.Duration, nodes []*Node, voters, nonvoters []string) {
	t.Helper()
	var want []string
	for _, v := range voters {
		want = append(want, v+":voter")
	}
	for _, v := range nonvoters {
		want = append(want, v+":nonvoter")
	}
	sort.Strings(want)
	testutil.WaitFor(t, timeout, func() error {
		l := Leader(nodes...)
		if l == nil {
			return fmt.Errorf("no leader among %d nodes", len(nodes))
		}
		got, err := l.Servers()
		if err != nil {
			return err
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			return fmt.Errorf("leader %s has %v, want %v", l.ID, got, want)
		}
		return nil
	})
}

// CountVoters waits for a leader and returns its voters and non-voters.
func CountVoters(nodes []*Node) (voters, nonvoters []string, err error) {
	l := Leader(nodes...)
	if l == nil {
		return nil, nil, fmt.Errorf("no leader")
	}
	got, err := l.Servers()
	if err != nil {
		return nil, nil, err
	}
	for _, s := range got {
		id, suffrage, _ := strings.Cut(s, ":")
		if suffrage == "voter" {
			voters = append(voters, id)
		} else {
			nonvoters = append(nonvoters, id)
		}
	}
	return voters, nonvoters, nil
}
