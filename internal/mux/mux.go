// Package mux shares one TCP port between Raft and agent-to-agent calls.
//
// Every connection to the port starts with one protocol byte, written by the
// dialer before anything else (before TLS, which each protocol layers on top
// on its own). The listener reads that byte and hands the connection to the
// matching sub-listener. One port means one firewall rule and one mutual-TLS
// identity for everything servers say to each other, and it lets the client
// HTTP API stay on loopback: agents never need each other's client port.
package mux

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Protocol bytes.
const (
	ProtoRaft  byte = 'R'
	ProtoAgent byte = 'A'
)

// headerTimeout bounds how long an accepted connection may take to send its
// protocol byte, so a silent client cannot hold a goroutine.
const headerTimeout = 5 * time.Second

// ErrClosed is returned by sub-listeners after the mux is closed.
var ErrClosed = errors.New("mux: closed")

// Mux accepts connections on one listener and routes them by protocol byte.
type Mux struct {
	ln   net.Listener
	subs map[byte]*subListener

	closeOnce sync.Once
	done      chan struct{}

	// mu orders a routing goroutine's wg.Add against Close's wg.Wait: an
	// Add racing a Wait on a zero counter is a WaitGroup misuse.
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// New wraps ln; call Serve to start routing. The sub-listeners for
// ProtoRaft and ProtoAgent exist from the start.
func New(ln net.Listener) *Mux {
	m := &Mux{ln: ln, subs: make(map[byte]*subListener), done: make(chan struct{})}
	for _, p := range []byte{ProtoRaft, ProtoAgent} {
		m.subs[p] = &subListener{m: m, ch: make(chan net.Conn, 16)}
	}
	return m
}

// Listener returns the sub-listener for a protocol byte.
func (m *Mux) Listener(proto byte) net.Listener { return m.subs[proto] }

// Addr is the shared listener's address.
func (m *Mux) Addr() net.Addr { return m.ln.Addr() }

// Serve accepts until Close. It returns nil after Close.
func (m *Mux) Serve() error {
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			c.Close()
			return nil
		}
		m.wg.Add(1)
		m.mu.Unlock()
		go m.route(c)
	}
}

func (m *Mux) route(c net.Conn) {
	defer m.wg.Done()
	var b [1]byte
	_ = c.SetReadDeadline(time.Now().Add(headerTimeout))
	if _, err := c.Read(b[:]); err != nil {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	sub, ok := m.subs[b[0]]
	if !ok {
		c.Close()
		return
	}
	select {
	case sub.ch <- c:
	case <-m.done:
		c.Close()
	}
}

// Close stops accepting and closes the sub-listeners. Connections already
// handed out belong to their protocol's server.
func (m *Mux) Close() error {
	var err error
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		close(m.done)
		m.mu.Unlock()
		err = m.ln.Close()
		m.wg.Wait()
	})
	return err
}

type subListener struct {
	m  *Mux
	ch chan net.Conn
}

func (s *subListener) Accept() (net.Conn, error) {
	select {
	case c := <-s.ch:
		return c, nil
	case <-s.m.done:
		return nil, ErrClosed
	}
}

// Close closes the whole mux: the protocols share one port and one lifetime.
func (s *subListener) Close() error { return s.m.Close() }

func (s *subListener) Addr() net.Addr { return s.m.ln.Addr() }

// DialFunc dials a raw stream, as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Dialer returns a dial function that connects and sends proto first.
func Dialer(proto byte) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return DialerWith(proto, d.DialContext)
}

// DialerWith is Dialer over another raw dial function. The protocol byte is
// written on top of what dial returns, so a wrapper that faults or observes
// raw connections (tests inject network faults this way) sees the byte as
// ordinary stream data.
func DialerWith(proto byte, dial DialFunc) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if deadline, ok := ctx.Deadline(); ok {
			_ = c.SetWriteDeadline(deadline)
		}
		if _, err := c.Write([]byte{proto}); err != nil {
			c.Close()
			return nil, fmt.Errorf("mux: send protocol byte to %s: %w", addr, err)
		}
		_ = c.SetWriteDeadline(time.Time{})
		return c, nil
	}
}
