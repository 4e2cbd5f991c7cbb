// Package agentcluster runs a cluster of agent processes of the built
// binary on loopback for benchmarks: every node bootstraps together from
// one HCL config file each, with the agent's default timers, so what is
// measured is what operators run.
package agentcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/api"
	"github.com/clusteragent/agent/bench/proc"
)

// Node is one agent of the cluster.
type Node struct {
	ID string
	// URL is the node's client API base URL.
	URL string
	// configPath and logPath let Restart run the node again as it was.
	configPath, logPath string
	proc                *proc.Process
	// api reads the node's state; its address outlives restarts.
	api *api.Client
}

// Pid is the node's process ID.
func (n *Node) Pid() int { return n.proc.Pid() }

// Cluster is a running set of agent processes.
type Cluster struct {
	// Nodes are every node started, in order, running or not. A Cluster
	// is used by one goroutine at a time.
	Nodes []*Node

	dir       string
	binary    string
	configure func(*agent.Config)
	logStore  string
	debug     bool
	// gossipOnly nodes run with server = false.
	gossipOnly bool
	seed       string       // the first node's gossip address
	ports      map[int]bool // every port handed out
}

// Options configure Start.
type Options struct {
	// Binary is the agent binary; Dir holds the nodes' configs, data dirs
	// and logs. Both required.
	Binary, Dir string
	// Servers is how many servers bootstrap together. Default 3.
	Servers int
	// Configure, when set, changes every node's configuration after the
	// harness has set its own keys (e.g. autopilot timers); nil: the
	// agent's defaults.
	Configure func(*agent.Config)
	// LogStore is the servers' raft.log_store ("wal" or "boltdb"); empty:
	// the agent's default.
	LogStore string
	// EnableDebug serves /debug/pprof on every node, for CPU profiles.
	EnableDebug bool
}

// Start starts opts.Servers agent processes, each with its config, data
// dir and log under opts.Dir, joining through the first node's gossip port
// with bootstrap_expect = opts.Servers, and returns once every node sees
// all of them as voters under one leader. A failure, or ctx ending first,
// kills whatever was started.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.Servers == 0 {
		opts.Servers = 3
	}
	if opts.Servers < 1 || opts.Binary == "" || opts.Dir == "" {
		return nil, fmt.Errorf("agentcluster: need Binary, Dir and at least one server, got %+v", opts)
	}
	c := &Cluster{dir: opts.Dir, binary: opts.Binary, configure: opts.Configure, logStore: opts.LogStore, debug: opts.EnableDebug, ports: map[int]bool{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Close())
		}
	}()
	for i := range opts.Servers {
		if _, err := c.startNode(fmt.Sprintf("n%d", i+1), opts.Servers); err != nil {
			return nil, err
		}
	}
	if _, err := c.WaitLeader(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// StartGossipPool starts n gossip-only agents (server = false: no Raft)
// under opts.Dir that all join through the first one, as fast as they can
// be started, and returns without waiting for them to find each other. A
// failure kills whatever was started.
func StartGossipPool(opts Options, n int) (_ *Cluster, err error) {
	if n < 1 || opts.Binary == "" || opts.Dir == "" {
		return nil, fmt.Errorf("agentcluster: need Binary, Dir and at least one agent, got %+v and %d", opts, n)
	}
	c := &Cluster{dir: opts.Dir, binary: opts.Binary, gossipOnly: true, ports: map[int]bool{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Close())
		}
	}()
	// All ports first, so the starts follow each other without pauses.
	ports, err := proc.FreePorts(3*n, nil)
	if err != nil {
		return nil, err
	}
	for i := range n {
		if _, err := c.startNodeOn(fmt.Sprintf("g%d", i+1), 0, ports[3*i:3*i+3]); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// AddClients starts n gossip-only agents (server = false) named c1..cn
// that all join through the first node, as fast as they can be started,
// and returns them without waiting for them to join.
func (c *Cluster) AddClients(n int) ([]*Node, error) {
	ports, err := proc.FreePorts(3*n, c.ports)
	if err != nil {
		return nil, err
	}
	was := c.gossipOnly
	c.gossipOnly = true
	defer func() { c.gossipOnly = was }()
	out := make([]*Node, 0, n)
	for i := range n {
		node, err := c.startNodeOn(fmt.Sprintf("c%d", i+1), 0, ports[3*i:3*i+3])
		if err != nil {
			return out, err
		}
		out = append(out, node)
	}
	return out, nil
}

// AddNode starts a server named id that joins through the first node and
// never bootstraps: the leader's autopilot adds it. It returns as soon as
// the process has started.
func (c *Cluster) AddNode(id string) (*Node, error) {
	return c.startNode(id, 0)
}

// startNode writes id's config and starts its process. The first node's
// gossip port is every node's seed.
func (c *Cluster) startNode(id string, bootstrapExpect int) (*Node, error) {
	ports, err := proc.FreePorts(3, c.ports)
	if err != nil {
		return nil, err
	}
	return c.startNodeOn(id, bootstrapExpect, ports)
}

// startNodeOn is startNode on the given gossip, raft and HTTP ports.
func (c *Cluster) startNodeOn(id string, bootstrapExpect int, ports []int) (*Node, error) {
	for _, p := range ports {
		c.ports[p] = true
	}
	if c.seed == "" {
		c.seed = proc.HostPort(ports[0])
	}
	cfg := nodeConfig{
		ID:              id,
		GossipPort:      ports[0],
		RaftPort:        ports[1],
		HTTPPort:        ports[2],
		Join:            c.seed,
		BootstrapExpect: bootstrapExpect,
		Configure:       c.configure,
		GossipOnly:      c.gossipOnly,
		LogStore:        c.logStore,
		EnableDebug:     c.debug,
	}
	home := filepath.Join(c.dir, id)
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("agentcluster: %w", err)
	}
	cfg.DataDir = filepath.Join(home, "data")
	configPath := filepath.Join(home, "config.hcl")
	src, err := cfg.render()
	if err != nil {
		return nil, fmt.Errorf("agentcluster: %w", err)
	}
	if err := os.WriteFile(configPath, src, 0o600); err != nil {
		return nil, fmt.Errorf("agentcluster: %w", err)
	}
	n := &Node{ID: id, URL: "http://" + proc.HostPort(cfg.HTTPPort), configPath: configPath, logPath: filepath.Join(c.dir, id+".log")}
	if n.api, err = stateAPI(n.URL); err != nil {
		return nil, fmt.Errorf("agentcluster: %w", err)
	}
	p, err := c.exec(n)
	if err != nil {
		return nil, err
	}
	n.proc = p
	c.Nodes = append(c.Nodes, n)
	return n, nil
}

func (c *Cluster) exec(n *Node) (*proc.Process, error) {
	return proc.Start(n.ID, c.binary, []string{"run", "-config", n.configPath}, n.logPath)
}

// Restart runs a node that is no longer running (killed, say) again with
// the same config file, so the same ports and data dir, as an operator
// restarting a crashed agent would; its log goes on in the same file. It
// returns as soon as the process has started.
func (c *Cluster) Restart(n *Node) error {
	if n.Running() {
		return fmt.Errorf("agentcluster: restart %s: still running (pid %d)", n.ID, n.Pid())
	}
	p, err := c.exec(n)
	if err != nil {
		return err
	}
	n.proc = p
	return nil
}

// Running are the nodes whose process runs, in start order.
func (c *Cluster) Running() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n.Running() {
			out = append(out, n)
		}
	}
	return out
}

// DataDir is node's data directory.
func (c *Cluster) DataDir(node *Node) string { return filepath.Join(c.dir, node.ID, "data") }

// Close SIGKILLs every process and waits until all are reaped. The caller
// owns dir and removes it.
func (c *Cluster) Close() error {
	// Every process gets its signal before any is waited for: on a busy
	// machine hundreds of agents take a while to be reaped.
	for _, n := range c.Nodes {
		n.proc.Signal()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	for _, n := range c.Nodes {
		errs = append(errs, n.proc.Kill(ctx))
	}
	return errors.Join(errs...)
}

// Exited reports how the node's process ended, or nil while it runs.
func (n *Node) Exited() error { return n.proc.Exited() }

// Kill SIGKILLs the node's process (kill -9: no graceful leave, no
// leadership hand-off) and waits until it is reaped.
func (n *Node) Kill(ctx context.Context) error { return n.proc.Kill(ctx) }

// Running reports whether the node's process is still running.
func (n *Node) Running() bool { return n.proc.Running() }

// Terminate sends SIGTERM and waits, bounded by ctx, for the node's
// process to exit; it returns how long that took.
func (n *Node) Terminate(ctx context.Context) (time.Duration, error) { return n.proc.Terminate(ctx) }

// LogPath is the file the node's process logs to.
func (n *Node) LogPath() string { return n.logPath }
