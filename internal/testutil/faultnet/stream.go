package faultnet

import (
	"context"
	"net"
	"time"
)

// DialFunc is the dial signature raftnode.Options.Dial and mux.Dialer use.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Listener wraps node's accept side. Its address is registered to node when
// it is a concrete IP (not 0.0.0.0 or ::), so peers' dials to it are
// attributed without a separate Register call. A connection from a node
// that is cut off from this one is closed at once, as if its SYN had been
// lost, and Accept waits for the next.
func (n *Network) Listener(node string, inner net.Listener) net.Listener {
	if ta, ok := inner.Addr().(*net.TCPAddr); ok && ta.IP != nil && !ta.IP.IsUnspecified() {
		_ = n.Register(node, ta.String())
	}
	return &listener{Listener: inner, n: n, node: node}
}

type listener struct {
	net.Listener
	n    *Network
	node string
}

// Accept returns the next connection not blocked at arrival, wrapped.
func (l *listener) Accept() (net.Conn, error) {
	for {
		inner, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if c, ok := l.n.accepted(inner, l.node); ok {
			return c, nil
		}
	}
}

// accepted wraps an incoming stream of node, or closes it and reports false
// when its sender is cut off from node or the Network is closed.
func (n *Network) accepted(inner net.Conn, node string) (net.Conn, bool) {
	c, ok := n.track(inner, node, "", "")
	if !ok {
		inner.Close()
		return nil, false
	}
	if n.Blocked(c.remoteNode(), node) {
		c.Close()
		return nil, false
	}
	return c, true
}

// Dialer wraps node's dial side. A dial to an address registered to another
// node that node cannot reach blocks like a blackhole (see the package
// doc); other dials go straight to inner. The connection's source address is
// recorded so that a wrapped accepting end can tell which node dialed.
func (n *Network) Dialer(node string, inner DialFunc) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return n.dial(ctx, node, addr, func(ctx context.Context) (net.Conn, error) {
			return inner(ctx, network, addr)
		})
	}
}

// dial waits out a fault from node to addr's node, then dials with inner and
// wraps the result.
func (n *Network) dial(ctx context.Context, node, addr string, inner func(context.Context) (net.Conn, error)) (net.Conn, error) {
	remote := n.nodeOf(addr)
	if err := n.waitDial(ctx, node, remote, addr); err != nil {
		return nil, err
	}
	raw, err := inner(ctx)
	if err != nil {
		return nil, err
	}
	c, ok := n.track(raw, node, remote, raw.LocalAddr().String())
	if !ok {
		raw.Close()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: raw.RemoteAddr(), Err: ErrClosed}
	}
	return c, nil
}

// waitDial blocks while node -> remote is blocked, up to the earlier of the
// context's deadline and the blackhole timeout.
func (n *Network) waitDial(ctx context.Context, node, remote, addr string) error {
	n.mu.Lock()
	deadline := time.Now().Add(n.blackholeTimeout)
	n.mu.Unlock()
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		blocked, changed, done := n.state(node, remote)
		if !blocked {
			return nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return dialErr(addr, &timeoutError{what: "dial " + addr})
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return dialErr(addr, &timeoutError{what: "dial " + addr})
			}
			return dialErr(addr, ctx.Err())
		case <-done:
			return dialErr(addr, ErrClosed)
		}
	}
}

func dialErr(addr string, err error) error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: stringAddr(addr), Err: err}
}

// stringAddr is a net.Addr for an address that was never resolved.
type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }
