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
	// ErrNoUserFSM: Apply or Read was called on an agent running its
	// key/value store, which is written through its own API.
	ErrNoUserFSM = errors.New("the agent runs its key/value store: Apply and Read serve a state machine given with WithFSM")
	// ErrNotServer: the agent is a gossip-only member (server = false) and
	// holds no state to read.
	ErrNotServer = errors.New("this agent is not a Raft server (server = false)")
	// ErrMutationTooLarge: an encoded mutation exceeds MaxMutationBytes.
	ErrMutationTooLarge = errors.New("mutation too large")
)
