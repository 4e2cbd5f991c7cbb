package agent

import "errors"

// Sentinel errors of the agent.
var (
	// ErrIdentity: the data dir belongs to another node or cluster.
	ErrIdentity = errors.New("identity mismatch")
	// ErrShutdown: the agent is shutting down.
	ErrShutdown = errors.New("agent is shutting down")
	// ErrNotServer: a gossip-only member was asked for something only servers do.
	ErrNotServer = errors.New("this agent is not a server")
)
