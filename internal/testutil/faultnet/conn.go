package faultnet

import (
	"net"
	"sync"
	"time"
)

// conn is one wrapped end of a stream. It holds writes (and reads of data
// sent) across a blocked direction, delays writes, and is closed by the
// Network when a fault starts between its two nodes.
type conn struct {
	net.Conn
	n          *Network
	local      string // this end's node
	remoteAddr string
	remote     string // the other end's node, "" until known; guarded by n.mu
	dialedKey  string // entry in n.dialed to remove on Close, or ""

	mu        sync.Mutex
	readDL    time.Time
	writeDL   time.Time
	dlChanged chan struct{} // closed and replaced when a deadline changes

	readMu  sync.Mutex // serialises reads: pending is per connection
	pending []byte     // data read while its direction was blocked

	closeOnce sync.Once
	closed    chan struct{}
	closeErr  error
}

// track wraps inner as the end of node local and registers it with the
// Network. It returns nil, false if the Network is already closed.
func (n *Network) track(inner net.Conn, local, remote, dialedKey string) (*conn, bool) {
	c := &conn{
		Conn:       inner,
		n:          n,
		local:      local,
		remoteAddr: inner.RemoteAddr().String(),
		remote:     remote,
		dialedKey:  dialedKey,
		dlChanged:  make(chan struct{}),
		closed:     make(chan struct{}),
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, false
	}
	n.conns[c] = struct{}{}
	if dialedKey != "" {
		n.dialed[dialedKey] = local
	}
	return c, true
}

func (c *conn) remoteNode() string {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	return c.n.remoteOf(c)
}

// Write holds b while this direction is blocked, then for the link's delay,
// then sends it.
func (c *conn) Write(b []byte) (int, error) {
	if c.n.isClosed() {
		return 0, c.opErr("write", ErrClosed)
	}
	remote := c.remoteNode()
	if err := c.waitClear(c.local, remote, "write"); err != nil {
		return 0, err
	}
	if d := c.n.delayOf(c.local, remote); d > 0 {
		if err := c.hold(d); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(b)
}

// Read returns data only while the peer -> this direction is open; data that
// arrives across a blocked direction is kept until it heals.
func (c *conn) Read(b []byte) (int, error) {
	if c.n.isClosed() {
		return 0, c.opErr("read", ErrClosed)
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if len(c.pending) == 0 {
		n, err := c.Conn.Read(b)
		if n == 0 {
			return 0, err
		}
		if !c.n.Blocked(c.remoteNode(), c.local) {
			return n, err
		}
		c.pending = append(c.pending[:0], b[:n]...)
	}
	if err := c.waitClear(c.remoteNode(), c.local, "read"); err != nil {
		return 0, err
	}
	n := copy(b, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// waitClear blocks while from -> to is blocked, until the fault heals, the
// deadline for op passes, or the connection or Network closes.
func (c *conn) waitClear(from, to, op string) error {
	for {
		blocked, changed, done := c.n.state(from, to)
		if !blocked {
			return nil
		}
		if err := c.waitChange(op, changed, done); err != nil {
			return err
		}
	}
}

// waitChange blocks until the faults or op's deadline change, or the
// deadline passes, or something closes.
func (c *conn) waitChange(op string, changed, done <-chan struct{}) error {
	dl, dlChanged := c.deadline(op)
	var timeout <-chan time.Time
	if !dl.IsZero() {
		d := time.Until(dl)
		if d <= 0 {
			return c.opErr(op, &timeoutError{what: op})
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-changed:
		return nil
	case <-dlChanged:
		return nil
	case <-timeout:
		return c.opErr(op, &timeoutError{what: op})
	case <-c.closed:
		return c.opErr(op, net.ErrClosed)
	case <-done:
		return c.opErr(op, ErrClosed)
	}
}

// hold waits d before a write, cut short by the write deadline or close.
func (c *conn) hold(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	dl, _ := c.deadline("write")
	var timeout <-chan time.Time
	if !dl.IsZero() && time.Until(dl) < d {
		dt := time.NewTimer(time.Until(dl))
		defer dt.Stop()
		timeout = dt.C
	}
	select {
	case <-t.C:
		return nil
	case <-timeout:
		return c.opErr("write", &timeoutError{what: "delayed write"})
	case <-c.closed:
		return c.opErr("write", net.ErrClosed)
	}
}

func (c *conn) deadline(op string) (time.Time, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if op == "read" {
		return c.readDL, c.dlChanged
	}
	return c.writeDL, c.dlChanged
}

func (c *conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

func (c *conn) setDeadlines(read, write bool, t time.Time) {
	c.mu.Lock()
	if read {
		c.readDL = t
	}
	if write {
		c.writeDL = t
	}
	close(c.dlChanged)
	c.dlChanged = make(chan struct{})
	c.mu.Unlock()
}

// SetDeadline also bounds waits on faults.
func (c *conn) SetDeadline(t time.Time) error {
	c.setDeadlines(true, true, t)
	return c.Conn.SetDeadline(t)
}

// SetReadDeadline also bounds waits on faults.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.setDeadlines(true, false, t)
	return c.Conn.SetReadDeadline(t)
}

// SetWriteDeadline also bounds waits on faults.
func (c *conn) SetWriteDeadline(t time.Time) error {
	c.setDeadlines(false, true, t)
	return c.Conn.SetWriteDeadline(t)
}

// Close closes the inner connection and forgets it; safe to call twice.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.n.mu.Lock()
		delete(c.n.conns, c)
		if c.dialedKey != "" && c.n.dialed[c.dialedKey] == c.local {
			delete(c.n.dialed, c.dialedKey)
		}
		c.n.mu.Unlock()
		c.closeErr = c.Conn.Close()
	})
	return c.closeErr
}
