package agent

import (
	"context"
	"net"

	"github.com/hashicorp/memberlist"

	"github.com/clusteragent/agent/internal/mux"
)

// DialFunc dials a raw TCP stream, as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// NetworkHooks let tests put a fault-injecting layer under the agent's
// network traffic. They are for tests only: production code never sets
// them, and a nil hook leaves that path exactly as it is without hooks.
type NetworkHooks struct {
	// RaftListener wraps the raw TCP listener of the Raft port, beneath the
	// protocol byte that splits it into Raft and agent-to-agent traffic, so
	// both are affected.
	RaftListener func(net.Listener) net.Listener
	// RaftDial wraps the raw TCP dial used for Raft and for agent-to-agent
	// calls; the protocol byte is written on top of the connection it
	// returns.
	RaftDial func(DialFunc) DialFunc
	// GossipTransport wraps memberlist's transport (discovery.Config's
	// WrapTransport).
	GossipTransport func(memberlist.NodeAwareTransport) memberlist.NodeAwareTransport
}

// WithNetworkFaults installs h for fault-injection tests. Not for
// production use.
func WithNetworkFaults(h NetworkHooks) Option { return func(a *Agent) { a.hooks = h } }

// wrapRaftListener applies the RaftListener hook, if any.
func (a *Agent) wrapRaftListener(ln net.Listener) net.Listener {
	if a.hooks.RaftListener == nil {
		return ln
	}
	return a.hooks.RaftListener(ln)
}

// peerDialer returns the dial function for proto on the Raft port: the
// plain mux dialer unless a RaftDial hook wraps the raw dial underneath.
func (a *Agent) peerDialer(proto byte) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if a.hooks.RaftDial == nil {
		return mux.Dialer(proto)
	}
	var d net.Dialer
	return mux.DialerWith(proto, mux.DialFunc(a.hooks.RaftDial(d.DialContext)))
}
