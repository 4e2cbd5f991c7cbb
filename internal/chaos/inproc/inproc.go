// Package inproc is the chaos suite's in-process runner: real agents in the
// test process on loopback (real TCP Raft transports, real memberlist, real
// BoltDB files), with faultnet wrapped around their Raft streams and their
// memberlist transport for partitions, one-way cuts, gossip loss and Raft
// delay. A process cannot be frozen from inside itself, so pauses are left to
// the process and Docker runners.
//
// Import it only from tests: it starts agents through agent/agenttest.
package inproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/internal/chaos"
	"github.com/clusteragent/agent/internal/testutil"
	"github.com/clusteragent/agent/internal/testutil/faultnet"
)

// Options configure Start.
type Options struct {
	// Servers is the size of the cluster at start. Default 3.
	Servers int
	// Seed seeds faultnet's packet loss.
	Seed int64
	// LogDir receives one JSON log file per node, appended across restarts.
	LogDir string
	// LogStore is raft.log_store for every node ("wal" or "boltdb"); empty
	// keeps agenttest's choice ($AGENT_TEST_LOG_STORE, default wal).
	LogStore string
}

// Cluster is a chaos.Cluster of in-process agents.
type Cluster struct {
	t        testing.TB
	fn       *faultnet.Network
	logDir   string
	logStore string
	settings chaos.AutopilotSettings

	mu    sync.Mutex
	order []string
	nodes map[string]*member
}

// member is one node and where it logs.
type member struct {
	node *agenttest.Node
	url  string
	log  *os.File
}

var _ chaos.Cluster = (*Cluster)(nil)

// settings of every chaos cluster: small enough delays that churn settles
// within a run.
func settingsFor(servers int) chaos.AutopilotSettings {
	return chaos.AutopilotSettings{MaxVoters: servers, MinQuorum: servers, DeadServerReapAfter: 3 * time.Second}
}

// Start starts opts.Servers agents that form one cluster through
// bootstrap_expect, and waits until all are voters. The test's cleanup
// closes the cluster.
func Start(t testing.TB, opts Options) (*Cluster, error) {
	if opts.Servers == 0 {
		opts.Servers = 3
	}
	c := &Cluster{t: t, fn: faultnet.NewNetwork(opts.Seed), logDir: opts.LogDir, logStore: opts.LogStore,
		settings: settingsFor(opts.Servers), nodes: map[string]*member{}}
	// Registered before any node, so it runs after every node stopped.
	t.Cleanup(func() { c.fn.Close() })
	t.Cleanup(func() { _ = c.Close() })
	ports := testutil.FreePorts(t, opts.Servers)
	var seeds []string
	for _, p := range ports {
		seeds = append(seeds, net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	}
	ids := make([]string, opts.Servers)
	for i := range ids {
		ids[i] = "n" + strconv.Itoa(i+1)
	}
	err := parallel(ids, func(i int, id string) error {
		return c.start(id, ports[i], seeds, opts.Servers)
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.waitVoters(ctx, ids); err != nil {
		return nil, err
	}
	return c, nil
}

// start starts node id with the chaos settings, gossiping on port (0:
// any), joining seeds.
func (c *Cluster) start(id string, gossipPort int, seeds []string, expect int) error {
	cfg := agenttest.Config(c.t, id)
	cfg.Ports.Gossip = gossipPort
	cfg.Join = seeds
	cfg.BootstrapExpect = expect
	if c.logStore != "" {
		cfg.Raft.LogStore = c.logStore
	}
	cfg.Autopilot.MaxVoters = c.settings.MaxVoters
	cfg.Autopilot.MinQuorum = c.settings.MinQuorum
	cfg.Autopilot.DeadServerReapAfter = c.settings.DeadServerReapAfter
	f, err := os.OpenFile(filepath.Join(c.logDir, id+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	n, err := agenttest.TryStartWith(c.t, cfg, agenttest.WithFaults(c.fn), agenttest.WithLogOutput(f, hclog.Info, true))
	if err != nil {
		f.Close()
		return err
	}
	c.mu.Lock()
	c.order = append(c.order, id)
	c.nodes[id] = &member{node: n, url: "http://" + n.Agent.HTTPAddr(), log: f}
	c.mu.Unlock()
	return nil
}

// waitVoters waits until the leader's configuration has ids as voters.
func (c *Cluster) waitVoters(ctx context.Context, ids []string) error {
	var last error
	for {
		last = c.checkVoters(ids)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster did not form: %w", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) checkVoters(ids []string) error {
	var nodes []*agenttest.Node
	for _, id := range ids {
		nodes = append(nodes, c.member(id).node)
	}
	voters, _, err := agenttest.CountVoters(nodes)
	if err != nil {
		return err
	}
	if len(voters) != len(ids) {
		return fmt.Errorf("voters %v, want %v", voters, ids)
	}
	return nil
}

func (c *Cluster) member(id string) *member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// Name is "inproc".
func (c *Cluster) Name() string { return "inproc" }

// Supports lists every kind but pauses.
func (c *Cluster) Supports() []chaos.FaultKind {
	var out []chaos.FaultKind
	for _, k := range chaos.AllFaultKinds {
		if k != chaos.PauseLeader {
			out = append(out, k)
		}
	}
	return out
}

// Nodes lists every node started, in order.
func (c *Cluster) Nodes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.order...)
}

// URL is node's client API.
func (c *Cluster) URL(node string) string {
	if m := c.member(node); m != nil {
		return m.url
	}
	return "http://127.0.0.1:1" // nobody: a request fails at once
}

func (c *Cluster) lookup(node string) (*member, error) {
	if m := c.member(node); m != nil {
		return m, nil
	}
	return nil, fmt.Errorf("inproc: no node %q", node)
}

// Kill stops node without a leadership hand-off or leave.
func (c *Cluster) Kill(_ context.Context, node string) error {
	m, err := c.lookup(node)
	if err != nil {
		return err
	}
	m.node.Kill()
	return nil
}

// Restart starts node again with its data dir and ports.
func (c *Cluster) Restart(_ context.Context, node string) error {
	m, err := c.lookup(node)
	if err != nil {
		return err
	}
	return m.node.TryRestart()
}

// Pause is not supported in-process.
func (c *Cluster) Pause(context.Context, string) error { return chaos.ErrUnsupported }

// Resume is not supported in-process.
func (c *Cluster) Resume(context.Context, string) error { return chaos.ErrUnsupported }

// Partition splits the nodes into groups.
func (c *Cluster) Partition(_ context.Context, groups [][]string) error {
	return c.fn.Partition(groups...)
}

// Cut blocks from -> to.
func (c *Cluster) Cut(_ context.Context, from, to string) error { return c.fn.Cut(from, to) }

// GossipLoss drops the share p of gossip packets on every link.
func (c *Cluster) GossipLoss(_ context.Context, p float64) error {
	return c.eachLink(func(a, b string) error { return c.fn.SetLoss(a, b, p) })
}

// RaftDelay delays every stream write between distinct nodes by d.
func (c *Cluster) RaftDelay(_ context.Context, d time.Duration) error {
	return c.eachLink(func(a, b string) error { return c.fn.SetDelay(a, b, d) })
}

func (c *Cluster) eachLink(f func(a, b string) error) error {
	nodes := c.Nodes()
	var errs []error
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				errs = append(errs, f(a, b))
			}
		}
	}
	return errors.Join(errs...)
}

// Heal removes partitions, cuts, loss and delay.
func (c *Cluster) Heal(ctx context.Context) error {
	c.fn.Heal()
	return errors.Join(c.GossipLoss(ctx, 0), c.RaftDelay(ctx, 0))
}

// AddNode starts a new server that joins through the running nodes' gossip
// addresses and waits to be added by autopilot.
func (c *Cluster) AddNode(context.Context) (string, error) {
	var seeds []string
	for _, id := range c.Nodes() {
		if m := c.member(id); m.node.Running() {
			seeds = append(seeds, m.node.GossipAddr())
		}
	}
	id := "n" + strconv.Itoa(len(c.Nodes())+1)
	return id, c.start(id, 0, seeds, 0)
}

// Settings are the autopilot settings every node runs with.
func (c *Cluster) Settings() chaos.AutopilotSettings { return c.settings }

// CollectLogs copies every node's log file into dir.
func (c *Cluster) CollectLogs(_ context.Context, dir string) error {
	var errs []error
	for _, id := range c.Nodes() {
		b, err := os.ReadFile(filepath.Join(c.logDir, id+".log"))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, id+".log"), b, 0o644)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Close kills every node and closes their logs. The test's cleanup also
// calls it; it is idempotent.
func (c *Cluster) Close() error {
	var errs []error
	for _, id := range c.Nodes() {
		m := c.member(id)
		m.node.Kill()
		if m.log != nil {
			errs = append(errs, m.log.Close())
			m.log = nil
		}
	}
	return errors.Join(errs...)
}

// parallel runs f for each id at once and joins the errors.
func parallel(ids []string, f func(int, string) error) error {
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(i, id)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
