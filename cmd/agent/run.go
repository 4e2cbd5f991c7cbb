package main

import (
	"context"

	"github.com/hashicorp/go-hclog"

	"github.com/clusteragent/agent/agent"
)

// runningAgent is what `agent run` needs from an agent; *agent.Agent has it.
type runningAgent interface {
	Start(ctx context.Context) error
	Shutdown(ctx context.Context) error
	Done() <-chan struct{}
	HTTPAddr() string
	// Reload re-reads the TLS files (SIGHUP).
	Reload() error
	// GossipSettled is closed once the first gossip join is over (READY=1
	// for systemd, see sdnotify.go).
	GossipSettled() <-chan struct{}
}

// newAgent builds the real agent. It is the only place cmd/agent reaches
// into the agent's runtime.
func newAgent(cfg agent.Config, logger hclog.Logger, quiet *stopLog) (runningAgent, error) {
	var opts []agent.Option
	if quiet != nil {
		opts = append(opts, agent.WithStopHook(func() { quiet.stopping.Store(true) }))
	}
	a, err := agent.New(cfg, logger, opts...)
	if err != nil {
		return nil, err
	}
	return a, nil
}
