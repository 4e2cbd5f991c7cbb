// Command embedded runs the whole agent inside a Go program with a state
// machine of its own: named string registers (registers.go). Everything the
// agent binary does comes with it: gossip join through a seed, safe
// bootstrap (-bootstrap-expect), autopilot promotion of new servers and
// pruning of dead ones, and forwarding to the leader.
//
// The recipe:
//
//  1. Write a raft.FSM whose Apply hands entries to a command.Router, with
//     one handler per mutation type.
//  2. agent.New(cfg, logger, agent.WithFSM(fsm)), then Start.
//  3. Write with Agent.Apply on any server (a follower forwards to the
//     leader); before a read of the FSM, call Agent.Read(ctx, stale).
//
// The program serves its registers on -app-addr (GET and PUT /r/NAME); the
// agent's own HTTP API (status, members, raft, autopilot) stays on
// -http-addr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/raftnode/command"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

// run returns the exit code, so that deferred shutdown always runs.
func run(args []string, stderr io.Writer) int {
	cfg, appAddr, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "embedded:", err)
		return 2
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: cfg.NodeID, Output: stderr})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := start(ctx, cfg, logger)
	if err != nil {
		logger.Error("start failed", "error", err)
		return 1
	}
	srv, err := a.serve(appAddr)
	if err != nil {
		logger.Error("app listener", "error", err)
		_ = a.agent.Shutdown(context.Background())
		return 1
	}
	logger.Info("registers served", "app_addr", appAddr, "agent_http_addr", a.agent.HTTPAddr())
	select {
	case <-ctx.Done():
	case <-a.agent.Done(): // left through the agent's API
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := a.agent.Shutdown(sctx); err != nil {
		logger.Error("shutdown failed", "error", err)
		return 1
	}
	return 0
}

// parseFlags builds the agent's configuration from a few flags; a real
// program would read its own configuration file. Defaults are the agent's.
func parseFlags(args []string, output io.Writer) (agent.Config, string, error) {
	c := agent.DefaultConfig()
	var appAddr string
	fs := flag.NewFlagSet("embedded", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&c.NodeID, "node-id", "", "this node's permanent ID (default: generated and kept in the data dir)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for Raft and gossip state")
	fs.StringVar(&c.Bind, "bind", "127.0.0.1", "address to listen on for gossip and Raft")
	fs.IntVar(&c.Ports.Gossip, "gossip-port", c.Ports.Gossip, "gossip port")
	fs.IntVar(&c.Ports.Raft, "raft-port", c.Ports.Raft, "Raft port (also agent-to-agent calls)")
	fs.StringVar(&c.HTTP.Addr, "http-addr", c.HTTP.Addr, "the agent's HTTP API")
	fs.StringVar(&appAddr, "app-addr", "127.0.0.1:8080", "this program's register API")
	fs.IntVar(&c.BootstrapExpect, "bootstrap-expect", 0, "servers to wait for before bootstrapping a new cluster")
	fs.Func("join", "gossip address of a member to join (repeatable)", func(s string) error {
		c.Join = append(c.Join, s)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return agent.Config{}, "", err
	}
	if fs.NArg() > 0 {
		return agent.Config{}, "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, appAddr, nil
}

// app is one running node: the agent and the state machine it replicates.
type app struct {
	agent *agent.Agent
	regs  *registers
}

// start builds the agent around the registers and starts it; New validates
// cfg and names the key of a bad field.
func start(ctx context.Context, cfg agent.Config, logger hclog.Logger) (*app, error) {
	regs := newRegisters()
	a, err := agent.New(cfg, logger, agent.WithFSM(regs))
	if err != nil {
		return nil, err
	}
	if err := a.Start(ctx); err != nil {
		return nil, err
	}
	return &app{agent: a, regs: regs}, nil
}

// Set writes a register through the cluster's leader.
func (a *app) Set(ctx context.Context, name, value string) error {
	return a.propose(ctx, mutSet, setCmd{Name: name, Value: value})
}

// CAS sets a register if it holds old now; a mismatch is an error wrapping
// raftnode.ErrFSM and errCASFailed's message.
func (a *app) CAS(ctx context.Context, name, old, value string) error {
	return a.propose(ctx, mutCAS, casCmd{Name: name, Old: old, Value: value})
}

func (a *app) propose(ctx context.Context, typ string, payload any) error {
	if name := nameOf(payload); name == "" {
		return fmt.Errorf("%w: empty register name", errInvalid)
	}
	m, err := command.NewMutation(typ, payload)
	if err != nil {
		return err
	}
	_, err = a.agent.Apply(ctx, m)
	return err
}

func nameOf(payload any) string {
	switch c := payload.(type) {
	case setCmd:
		return c.Name
	case casCmd:
		return c.Name
	}
	return ""
}

// Get reads a register: linearizably (it reflects every write acknowledged
// before the call, on whatever node), or, with stale, as this node has it.
func (a *app) Get(ctx context.Context, name string, stale bool) (string, bool, error) {
	if err := a.agent.Read(ctx, stale); err != nil {
		return "", false, err
	}
	v, ok := a.regs.Get(name)
	return v, ok, nil
}
