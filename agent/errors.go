package agent

import "errors"

// Sentinel errors of the agent.
var (
	// ErrIdentity: the data dir belongs to another node or cluster.
	ErrIdentity = errors.New("identity mismatch")
	// ErrShutdown: the agent is shutting down.
	ErrShutdown = errors.New("agent is shutting down")
	// ErrTLSDisabled: a reload was asked of an agent without tls.enable.
	ErrTLSDisabled = errors.New("tls is not enabled (tls.enable = false); there is nothing to reload")
	// ErrNotStarted: the agent was asked for something before Start.
	ErrNotStarted = errors.New("agent has not started")
)
