// Command embedded is a tiny replicated control plane built on this module's
// raftnode and discovery packages: the way to use them as a library with a
// state machine of your own instead of running the agent.
//
// The recipe, which start follows step by step:
//
//  1. Write a raft.FSM whose Apply hands entries to a command.Router, with one
//     handler per mutation type (registry.go).
//  2. Start a raftnode.Node with it. One node bootstraps (-bootstrap); the
//     others wait to be added.
//  3. Start a discovery.Gossip that advertises the node's Raft address in its
//     Meta and joins the seeds (-join).
//  4. On the leader, add every live gossip member that is not yet in the Raft
//     configuration (addPeers).
//  5. Write through Node.Apply on the leader; read the FSM on any node.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clusteragent/agent/discovery"
	"github.com/clusteragent/agent/raftnode"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

// run returns the exit code, so that deferred shutdown always runs.
func run(args []string, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "embedded:", err)
		return 2
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: cfg.NodeID, Output: stderr})
	s, err := start(cfg, logger)
	if err != nil {
		logger.Error("start failed", "error", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	if err := s.Close(); err != nil {
		logger.Error("shutdown failed", "error", err)
		return 1
	}
	return 0
}

// config is what the flags say.
type config struct {
	NodeID     string
	DataDir    string
	RaftAddr   string // host:port; port 0 picks one
	GossipAddr string // IP:port; port 0 picks one
	Join       []string
	Bootstrap  bool
	loopback   bool // fast timers, for clusters on one host (the tests)
}

func parseFlags(args []string, output io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("embedded", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&c.NodeID, "node-id", "", "this node's permanent ID (required)")
	fs.StringVar(&c.DataDir, "data-dir", "", "directory for Raft state (default ./data-ID)")
	fs.StringVar(&c.RaftAddr, "raft-addr", "127.0.0.1:7000", "Raft host:port")
	fs.StringVar(&c.GossipAddr, "gossip-addr", "127.0.0.1:7946", "gossip IP:port")
	fs.Func("join", "gossip address of a node to join (repeatable)", func(s string) error {
		c.Join = append(c.Join, s)
		return nil
	})
	fs.BoolVar(&c.Bootstrap, "bootstrap", false, "start a new cluster with this node (once, on the first node)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	switch {
	case fs.NArg() > 0:
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case c.NodeID == "":
		return config{}, errors.New("-node-id is required")
	case c.DataDir == "":
		c.DataDir = "data-" + c.NodeID
	}
	if _, _, err := splitIPPort(c.GossipAddr); err != nil {
		return config{}, fmt.Errorf("-gossip-addr: %w", err)
	}
	return c, nil
}

func splitIPPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, p)
	}
	if net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("%q: %q is not an IP address", addr, host)
	}
	return host, port, nil
}

// server is one running node of the control plane.
type server struct {
	logger   hclog.Logger
	registry *registry
	node     *raftnode.Node
	gossip   *discovery.Gossip
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// start brings up Raft, then gossip (which advertises the Raft address),
// then the loop that adds new members to Raft.
func start(cfg config, logger hclog.Logger) (*server, error) {
	s := &server{logger: logger, registry: newRegistry(logger)}
	ropts := raftnode.Options{
		NodeID: cfg.NodeID, BindAddr: cfg.RaftAddr, DataDir: cfg.DataDir, FSM: s.registry, Logger: logger,
		// Bootstrapping is a one-time decision: raftnode never does it over
		// existing state, so restarting with -bootstrap is harmless.
		BootstrapPreferred: cfg.Bootstrap, JoinOnly: !cfg.Bootstrap,
	}
	gcfg := discovery.DefaultConfig()
	if cfg.loopback {
		ropts.SetLoopbackTimers()
		gcfg = discovery.LoopbackConfig()
	}
	node, err := raftnode.NewNode(ropts)
	if err != nil {
		return nil, err
	}
	gcfg.NodeID, gcfg.Seeds, gcfg.DataDir, gcfg.Logger = cfg.NodeID, cfg.Join, cfg.DataDir, logger
	gcfg.BindAddr, gcfg.BindPort, _ = splitIPPort(cfg.GossipAddr)
	gcfg.Meta = discovery.Meta{RaftAddr: node.Addr(), Role: discovery.RoleServer}
	g, err := discovery.New(gcfg)
	if err != nil {
		return nil, errors.Join(err, node.Close())
	}
	g.Start()
	s.node, s.gossip = node, g
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.addPeers(ctx)
	}()
	return s, nil
}

// Register replicates a service registration. Call it on the leader: a
// follower returns a *raftnode.NotLeaderError naming the leader, for your own
// API to forward or redirect to.
func (s *server) Register(ctx context.Context, svc Service) error {
	if err := svc.validate(); err != nil {
		return err
	}
	return s.apply(ctx, mutRegister, svc)
}

// Deregister replicates the removal of a service; see Register.
func (s *server) Deregister(ctx context.Context, name string) error {
	if name == "" {
		return fmt.Errorf("%w: name is empty", errInvalidService)
	}
	return s.apply(ctx, mutDeregister, Service{Name: name})
}

// apply returns once the local FSM has applied the entry, so a read on the
// leader right after sees it.
func (s *server) apply(ctx context.Context, typ string, payload any) error {
	m, err := raftnode.NewMutation(typ, payload)
	if err != nil {
		return err
	}
	_, err = s.node.Apply(ctx, m)
	return err
}

// addPeers is the smallest useful bridge from gossip to Raft: the leader
// adds every live member that advertises a Raft address and is not in the
// configuration yet. It wakes on gossip events and, since events may be
// dropped, on a timer too. It never removes a server: the agent's autopilot
// does that (and promotes non-voters only once healthy); a control plane
// that needs it should embed the agent package instead.
func (s *server) addPeers(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.gossip.Events():
		case <-tick.C:
		}
		if s.node.IsLeader() {
			s.reconcile(ctx)
		}
	}
}

func (s *server) reconcile(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conf, err := s.node.GetConfiguration(ctx)
	if err != nil {
		s.logger.Warn("read raft configuration", "error", err)
		return
	}
	known := map[string]bool{}
	for _, srv := range conf.Servers {
		known[srv.ID] = true
	}
	for _, m := range s.gossip.Members() {
		if m.Status != discovery.StatusAlive || m.Meta.RaftAddr == "" || known[m.ID] {
			continue
		}
		if err := s.node.AddVoter(ctx, m.ID, m.Meta.RaftAddr); err != nil {
			s.logger.Warn("add voter", "node_id", m.ID, "error", err)
			continue
		}
		s.logger.Info("added voter", "node_id", m.ID, "raft_addr", m.Meta.RaftAddr)
	}
}

// Close stops the loop, then gossip (peers see the node go), then Raft. The
// node stays in the Raft configuration, so a restart rejoins as itself.
func (s *server) Close() error {
	s.cancel()
	s.wg.Wait()
	return errors.Join(s.gossip.Shutdown(), s.node.Close())
}
