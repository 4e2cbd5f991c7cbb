package procrun

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/clusteragent/agent/api"
	"github.com/clusteragent/agent/bench/proc"
	"github.com/clusteragent/agent/internal/chaos"
	"github.com/clusteragent/agent/internal/freeport"
)

// ErrClosed is returned by a Cluster's methods that would start a process
// after Close.
var ErrClosed = errors.New("procrun: cluster closed")

// Options configure Start.
type Options struct {
	// Binary is the agent binary to run; package buildagent builds one.
	Binary string
	// Dir holds the nodes' config files, data dirs and logs. The caller
	// owns it: Close leaves it in place, so the logs outlive the cluster.
	Dir string
	// Servers is how many servers bootstrap the cluster together. Default 3.
	Servers int
	// LogStore is raft.log_store in every node's config ("wal" or
	// "boltdb"); empty leaves the agent's default.
	LogStore string
	// Logf, when set, hears of starts, kills and processes that exit on
	// their own.
	Logf func(format string, args ...any)
}

// Cluster is a chaos.Cluster of agent processes on loopback. Its methods
// follow chaos.Cluster's concurrency rules; Nodes, URL, Settings and Close
// are safe to call concurrently with anything.
type Cluster struct {
	binary   string
	dir      string
	settings chaos.AutopilotSettings
	logStore string
	logf     func(format string, args ...any)
	hc       *http.Client

	mu     sync.Mutex
	nodes  []*node // in the order added
	byID   map[string]*node
	ports  map[int]bool // every port handed to a node, kept across restarts
	closed bool
}

var _ chaos.Cluster = (*Cluster)(nil)

// node is one agent: its fixed identity and files, and its latest process.
type node struct {
	cfg        nodeConfig
	configPath string
	logPath    string
	proc       *proc.Process // nil until first started; guarded by Cluster.mu
	paused     bool          // guarded by Cluster.mu
	// api is the node's client API over Cluster.hc; its port outlives
	// restarts.
	api *api.Client
}

// Start starts opts.Servers agent processes that join through n1's gossip
// address and bootstrap one cluster, and returns once every node sees all
// of them as voters under one leader. A failure, or ctx ending first, kills
// whatever was started.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.Binary == "" || opts.Dir == "" {
		return nil, errors.New("procrun: Options.Binary and Options.Dir are required")
	}
	if opts.Servers == 0 {
		opts.Servers = 3
	}
	if opts.Servers < 1 {
		return nil, fmt.Errorf("procrun: Options.Servers must be at least 1, got %d", opts.Servers)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	binary, err := filepath.Abs(opts.Binary)
	if err != nil {
		return nil, err
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	c := &Cluster{
		binary:   binary,
		dir:      dir,
		settings: settingsFor(opts.Servers),
		logStore: opts.LogStore,
		logf:     logf,
		hc:       &http.Client{Timeout: 2 * time.Second},
		byID:     map[string]*node{},
		ports:    map[int]bool{},
	}
	defer func() {
		if err != nil {
			_ = c.Close()
		}
	}()

	began := time.Now()
	c.mu.Lock()
	err = c.startServersLocked(opts.Servers)
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	leader, err := c.waitFormed(ctx)
	if err != nil {
		return nil, err
	}
	c.logf("procrun: %d servers formed a cluster led by %s in %s", opts.Servers, leader, time.Since(began).Round(time.Millisecond))
	return c, nil
}

// startServersLocked creates and starts the n bootstrapping servers.
func (c *Cluster) startServersLocked(n int) error {
	ports, err := freeport.Ports(3*n, c.ports)
	if err != nil {
		return err
	}
	seed := hostPort(ports[0]) // n1's gossip port
	for i := range n {
		nd, err := c.addNodeLocked(nodeConfig{
			ID:              fmt.Sprintf("n%d", i+1),
			GossipPort:      ports[3*i],
			RaftPort:        ports[3*i+1],
			HTTPPort:        ports[3*i+2],
			Join:            []string{seed},
			BootstrapExpect: n,
		})
		if err != nil {
			return err
		}
		if err := c.startLocked(nd); err != nil {
			return err
		}
	}
	return nil
}

// addNodeLocked writes a node's config file and registers it. cfg.DataDir
// is filled in.
func (c *Cluster) addNodeLocked(cfg nodeConfig) (*node, error) {
	cfg.LogStore = c.logStore
	home := filepath.Join(c.dir, cfg.ID)
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("procrun: %w", err)
	}
	cfg.DataDir = filepath.Join(home, "data")
	a, err := api.NewClient(api.Config{Address: "http://" + hostPort(cfg.HTTPPort), HTTPClient: c.hc})
	if err != nil {
		return nil, fmt.Errorf("procrun: %w", err)
	}
	nd := &node{
		cfg:        cfg,
		configPath: filepath.Join(home, "config.hcl"),
		logPath:    filepath.Join(c.dir, cfg.ID+".log"),
		api:        a,
	}
	src, err := cfg.render(c.settings)
	if err != nil {
		return nil, fmt.Errorf("procrun: %w", err)
	}
	if err := os.WriteFile(nd.configPath, src, 0o600); err != nil {
		return nil, fmt.Errorf("procrun: %w", err)
	}
	for _, p := range []int{cfg.GossipPort, cfg.RaftPort, cfg.HTTPPort} {
		c.ports[p] = true
	}
	c.nodes = append(c.nodes, nd)
	c.byID[cfg.ID] = nd
	return nd, nil
}

// startLocked starts a new process for nd. Holding c.mu while starting
// means Close either sees the process or has already refused it.
func (c *Cluster) startLocked(nd *node) error {
	if c.closed {
		return ErrClosed
	}
	p, err := startProcess(c.binary, nd.configPath, nd.logPath, nd.cfg.ID, c.logf)
	if err != nil {
		return err
	}
	nd.proc, nd.paused = p, false
	c.logf(startedFormat, nd.cfg.ID, p.Pid())
	return nil
}

// startedFormat is the Logf line of each start (tests read the pid off it).
const startedFormat = "procrun: started %s (pid %d)"

// lookupLocked finds a node by ID.
func (c *Cluster) lookupLocked(id string) (*node, error) {
	nd, ok := c.byID[id]
	if !ok {
		return nil, fmt.Errorf("procrun: unknown node %q", id)
	}
	return nd, nil
}

// Name names the runner.
func (c *Cluster) Name() string { return "process" }

// Supports lists the process faults; network faults need the Docker runner.
func (c *Cluster) Supports() []chaos.FaultKind {
	kinds := []chaos.FaultKind{chaos.KillLeader, chaos.KillFollower}
	if proc.CanPause() {
		kinds = append(kinds, chaos.PauseLeader)
	}
	return append(kinds, chaos.Churn, chaos.FullRestart, chaos.MassRestart)
}

// Nodes returns every node ever started, in the order added.
func (c *Cluster) Nodes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		ids[i] = nd.cfg.ID
	}
	return ids
}

// URL is node's client API base URL, or "" for an unknown node.
func (c *Cluster) URL(node string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	nd, ok := c.byID[node]
	if !ok {
		return ""
	}
	return "http://" + hostPort(nd.cfg.HTTPPort)
}

// Settings are the autopilot settings every node runs with.
func (c *Cluster) Settings() chaos.AutopilotSettings { return c.settings }

// Close resumes any paused process, SIGKILLs every process still running
// and waits until all are reaped. It is idempotent and leaves Options.Dir
// (logs and data) to the caller.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var procs []*proc.Process
	for _, nd := range c.nodes {
		if nd.proc == nil || !nd.proc.Running() {
			continue
		}
		if nd.paused {
			// SIGKILL ends a stopped process too; the resume is so
			// nothing is left stopped should the kill fail.
			rctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = nd.proc.Resume(rctx)
			cancel()
			nd.paused = false
		}
		procs = append(procs, nd.proc)
	}
	c.mu.Unlock()

	// SIGKILL cannot be caught, so only a process stuck in the kernel
	// outlasts this bound.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, p := range procs {
		errs = append(errs, p.Kill(ctx))
	}
	c.hc.CloseIdleConnections()
	return errors.Join(errs...)
}
