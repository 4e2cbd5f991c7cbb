package faultnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// noLeaks fails t if goroutines started during the test outlive it. Called
// first, its cleanup runs last, after every other cleanup closed things.
func noLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// streamNode is one node's wrapped listener plus a channel of accepted
// connections.
type streamNode struct {
	name     string
	addr     string
	dial     DialFunc
	accepted chan net.Conn
}

// newStreamNode listens on 127.0.0.1:0 through n.Listener and accepts until
// the test ends. wrapDial false gives it a plain dialer.
func newStreamNode(t *testing.T, n *Network, name string, wrapListener, wrapDial bool) *streamNode {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := raw
	if wrapListener {
		ln = n.Listener(name, raw)
	} else if err := n.Register(name, raw.Addr().String()); err != nil {
		t.Fatal(err)
	}
	var d net.Dialer
	sn := &streamNode{name: name, addr: raw.Addr().String(), dial: d.DialContext, accepted: make(chan net.Conn, 16)}
	if wrapDial {
		sn.dial = n.Dialer(name, d.DialContext)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			sn.accepted <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return sn
}

// dialTo dials to's address from from within timeout.
func dialTo(from, to *streamNode, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return from.dial(ctx, "tcp", to.addr)
}

// mustConnect dials from -> to and returns both ends.
func mustConnect(t *testing.T, from, to *streamNode) (dialed, accepted net.Conn) {
	t.Helper()
	c, err := dialTo(from, to, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s -> %s: %v", from.name, to.name, err)
	}
	t.Cleanup(func() { c.Close() })
	select {
	case a := <-to.accepted:
		return c, a
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not accept the connection from %s", to.name, from.name)
		return nil, nil
	}
}

// send writes msg on w and expects exactly msg on r.
func send(w, r net.Conn, msg string) error {
	_ = w.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := w.Write([]byte(msg)); err != nil {
		return fmt.Errorf("write %q: %w", msg, err)
	}
	_ = r.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(r, buf); err != nil {
		return fmt.Errorf("read %q: %w", msg, err)
	}
	if string(buf) != msg {
		return fmt.Errorf("read %q, want %q", buf, msg)
	}
	return nil
}

// isTimeout reports whether err is a net.Error timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// twoWrappedNodes is the common start of the stream tests: a leak check, a
// Network closed when the test ends, and nodes "a" and "b" with both their
// listener and dialer wrapped.
func twoWrappedNodes(t *testing.T) (*Network, *streamNode, *streamNode) {
	t.Helper()
	noLeaks(t)
	n := NewNetwork(1)
	t.Cleanup(func() { n.Close() })
	return n, newStreamNode(t, n, "a", true, true), newStreamNode(t, n, "b", true, true)
}
