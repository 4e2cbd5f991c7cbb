// Command raftnode is a tiny replicated service catalogue built on this
// module's raftnode package alone: a Raft log, its stores and transport,
// and a state machine of your own, with a fixed set of servers. It shows
// what raftnode offers by itself; for gossip discovery, servers that come
// and go, autopilot and forwarding to the leader, embed the whole agent
// instead (examples/embedded).
//
// The recipe, which start follows step by step:
//
//  1. Write a raft.FSM whose Apply hands entries to a command.Router, with one
//     handler per mutation type (registry.go).
//  2. Start a raftnode.Node with it and the static peer set (-peer, the same
//     on every server): the lowest ID bootstraps them all, once.
//  3. Write through Node.Apply on the leader; a follower answers with a
//     *raftnode.NotLeaderError naming the leader, for your own API to
//     forward or redirect to.
//  4. Read the FSM after Node.LinearizableRead on the leader, or as it is
//     (stale) on any server.
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
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"

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
		fmt.Fprintln(stderr, "raftnode:", err)
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
	NodeID   string
	DataDir  string
	RaftAddr string            // host:port this server listens on
	Peers    map[string]string // every server, this one included: ID to host:port
	listener net.Listener      // tests: an open listener instead of RaftAddr
	loopback bool              // fast timers, for clusters on one host (the tests)
}

func parseFlags(args []string, output io.Writer) (config, error) {
	c := config{Peers: map[string]string{}}
	fs := flag.NewFlagSet("raftnode", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&c.NodeID, "node-id", "", "this node's permanent ID (required)")
	fs.StringVar(&c.DataDir, "data-dir", "", "directory for Raft state (default ./data-ID)")
	fs.StringVar(&c.RaftAddr, "raft-addr", "127.0.0.1:7000", "Raft host:port")
	fs.Func("peer", "a server of the cluster as ID=HOST:PORT (repeatable; the same list on every server)", func(s string) error {
		id, addr, ok := strings.Cut(s, "=")
		if !ok || id == "" || addr == "" {
			return fmt.Errorf("%q is not ID=HOST:PORT", s)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%q: %w", s, err)
		}
		c.Peers[id] = addr
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	switch {
	case fs.NArg() > 0:
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case c.NodeID == "":
		return config{}, errors.New("-node-id is required")
	case len(c.Peers) > 0 && c.Peers[c.NodeID] == "":
		return config{}, fmt.Errorf("-peer: the list does not name this node (%s)", c.NodeID)
	case c.DataDir == "":
		c.DataDir = "data-" + c.NodeID
	}
	return c, nil
}

// server is one running node of the catalogue.
type server struct {
	registry *registry
	node     *raftnode.Node
}

// start opens the node. raftnode decides bootstrapping from the peer set
// and never bootstraps over existing state, so a restart is harmless.
func start(cfg config, logger hclog.Logger) (*server, error) {
	s := &server{registry: newRegistry(logger)}
	ropts := raftnode.Options{
		NodeID: cfg.NodeID, BindAddr: cfg.RaftAddr, Listener: cfg.listener, DataDir: cfg.DataDir,
		FSM: s.registry, Peers: cfg.Peers, Logger: logger,
	}
	if cfg.loopback {
		ropts.SetLoopbackTimers()
	}
	node, err := raftnode.NewNode(ropts)
	if err != nil {
		return nil, err
	}
	s.node = node
	return s, nil
}

// Register replicates a service registration. Call it on the leader: a
// follower returns a *raftnode.NotLeaderError naming the leader.
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

// Services reads the catalogue linearizably: on the leader only, after
// confirming leadership with a quorum. A follower returns a
// *raftnode.NotLeaderError; registry.Services reads it stale anywhere.
func (s *server) Services(ctx context.Context) ([]Service, error) {
	if err := s.node.LinearizableRead(ctx); err != nil {
		return nil, err
	}
	return s.registry.Services(), nil
}

// Close stops Raft. The node stays in the configuration, so a restart
// rejoins as itself.
func (s *server) Close() error { return s.node.Close() }
