package agenttest

import (
	"io"
	"net"
	"strconv"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/internal/testutil/faultnet"
)

// Option changes how StartWith starts a node; it applies again at Restart.
type Option func(*Node)

// WithFaults routes the node's Raft, agent-to-agent and gossip traffic
// through fn, under the node's ID as its faultnet name, so a test can
// partition or cut nodes by ID. The node's Raft and gossip addresses are
// registered with fn as the agent binds them. The test owns fn and closes
// it after the nodes (register its cleanup first).
func WithFaults(fn *faultnet.Network) Option {
	return func(n *Node) { n.faults = fn }
}

// logOutput is where WithLogOutput sends a node's log.
type logOutput struct {
	w     io.Writer
	level hclog.Level
	json  bool
}

// WithLogOutput writes the node's log to w at level, as JSON lines when
// json is set, instead of to the test's log. The writer outlives restarts,
// so one file can hold a node's whole history. w must be safe for
// concurrent writes (an *os.File is).
func WithLogOutput(w io.Writer, level hclog.Level, json bool) Option {
	return func(n *Node) { n.logOut = &logOutput{w: w, level: level, json: json} }
}

// agentOptions are the agent options the node's Options imply.
func (n *Node) agentOptions() []agent.Option {
	if n.faults == nil {
		return nil
	}
	fn, id := n.faults, n.ID
	return []agent.Option{agent.WithNetworkFaults(agent.NetworkHooks{
		// faultnet.Listener registers the listener's address to id.
		RaftListener: func(ln net.Listener) net.Listener { return fn.Listener(id, ln) },
		RaftDial: func(d agent.DialFunc) agent.DialFunc {
			return agent.DialFunc(fn.Dialer(id, faultnet.DialFunc(d)))
		},
		GossipTransport: func(inner memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
			// The transport is bound already: its address is the UDP source
			// of this node's packets and its gossip TCP address.
			if ip, port, err := inner.FinalAdvertiseAddr("", 0); err != nil {
				n.t.Errorf("faults: gossip address of %s: %v", id, err)
			} else if err := fn.Register(id, net.JoinHostPort(ip.String(), strconv.Itoa(port))); err != nil {
				n.t.Errorf("faults: %v", err)
			}
			return fn.MemberlistTransport(id, inner)
		},
	})}
}
