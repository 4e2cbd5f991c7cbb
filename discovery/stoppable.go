package discovery

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// stoppableTransport makes every outgoing stream (a join's or a periodic
// push/pull, a TCP fallback probe) end as soon as ctx does. memberlist
// dials with TCPTimeout (10 s on a LAN) and holds the connection until
// the exchange is done or times out, and a join waits for it: Shutdown,
// which waits for the join loop, used to wait out a push/pull with a seed
// too busy to answer. An agent stopped while 100 clients joined one seed
// then took longer than 5 s to exit. Closing the connections on
// cancellation lets the exchange fail at once instead.
type stoppableTransport struct {
	memberlist.NodeAwareTransport
	ctx context.Context

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	done  bool
}

func newStoppableTransport(ctx context.Context, inner memberlist.NodeAwareTransport) *stoppableTransport {
	t := &stoppableTransport{NodeAwareTransport: inner, ctx: ctx, conns: make(map[net.Conn]struct{})}
	context.AfterFunc(ctx, t.closeAll)
	return t
}

// DialTimeout dials like DialAddressTimeout.
func (t *stoppableTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout dials through the inner transport and tracks the
// connection until it is closed, failing at once once ctx has ended.
func (t *stoppableTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if err := t.ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := t.NodeAwareTransport.DialAddressTimeout(a, timeout)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		// Cancelled while dialling: closeAll has already run.
		_ = conn.Close()
		return nil, t.ctx.Err()
	}
	tc := &trackedConn{Conn: conn, t: t}
	t.conns[tc] = struct{}{}
	return tc, nil
}

func (t *stoppableTransport) closeAll() {
	t.mu.Lock()
	t.done = true
	conns := t.conns
	t.conns = nil
	t.mu.Unlock()
	for c := range conns {
		_ = c.(*trackedConn).Conn.Close()
	}
}

func (t *stoppableTransport) forget(c *trackedConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, c)
}

// trackedConn leaves the transport's set when closed.
type trackedConn struct {
	net.Conn
	t    *stoppableTransport
	once sync.Once
}

// Close closes the connection and forgets it.
func (c *trackedConn) Close() error {
	c.once.Do(func() { c.t.forget(c) })
	return c.Conn.Close()
}
