package mux

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// serveMux serves a Mux on a loopback port until the test ends, then
// checks Serve returned cleanly.
func serveMux(t *testing.T) (*Mux, net.Listener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := New(ln)
	served := make(chan error, 1)
	go func() { served <- m.Serve() }()
	t.Cleanup(func() {
		m.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return m, ln
}

func TestRoutesByProtocolByte(t *testing.T) {
	m, ln := serveMux(t)

	for _, proto := range []byte{ProtoRaft, ProtoAgent} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := Dialer(proto)(ctx, "tcp", ln.Addr().String())
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		got, err := m.Listener(proto).Accept()
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(got, buf); err != nil || string(buf) != "hello" {
			t.Fatalf("proto %c: read %q, %v", proto, buf, err)
		}
		got.Close()
		c.Close()
	}
}

func TestUnknownProtocolIsClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := New(ln)
	go m.Serve()
	defer m.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte{'X'}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after unknown protocol byte: %v, want EOF", err)
	}
}

func TestAcceptAfterCloseFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := New(ln)
	go m.Serve()
	m.Close()
	if _, err := m.Listener(ProtoAgent).Accept(); err != ErrClosed {
		t.Fatalf("Accept after Close: %v, want ErrClosed", err)
	}
}

// TestDialerWithUsesRawDial checks that the protocol byte goes over the
// connection the given dial function returned, and that its errors pass
// through unchanged.
func TestDialerWithUsesRawDial(t *testing.T) {
	m, ln := serveMux(t)
	var used int
	raw := func(ctx context.Context, network, addr string) (net.Conn, error) {
		used++
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := DialerWith(ProtoAgent, raw)(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if used != 1 {
		t.Fatalf("raw dial used %d times, want 1", used)
	}
	got, err := m.Listener(ProtoAgent).Accept()
	if err != nil {
		t.Fatal(err)
	}
	got.Close()

	refused := errors.New("refused by test")
	failing := func(context.Context, string, string) (net.Conn, error) { return nil, refused }
	if _, err := DialerWith(ProtoRaft, failing)(ctx, "tcp", ln.Addr().String()); !errors.Is(err, refused) {
		t.Fatalf("DialerWith over a failing dial: %v, want %v", err, refused)
	}
}
