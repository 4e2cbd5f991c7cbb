package raftnode

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TestStreamCloseWaitsForHandlers: closing the layer cuts accepted
// connections, but waitHandlers returns only once the goroutine serving
// each (raft's handler, which may still be writing to the stores) has
// closed it; dialed connections are not waited for.
func TestStreamCloseWaitsForHandlers(t *testing.T) {
	t.Parallel()
	s, err := newStreamLayer(&Options{BindAddr: "127.0.0.1:0"}, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	client, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	served, err := s.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Dial(raft.ServerAddress(s.Addr().String()), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The connection is cut under the handler, which has not returned.
	if _, err := served.Read(make([]byte, 1)); err == nil {
		t.Fatal("an accepted connection survived Close")
	}
	if s.waitHandlers(50 * time.Millisecond) {
		t.Fatal("waitHandlers returned while a handler still held its connection")
	}
	_ = served.Close() // the handler returns
	if !s.waitHandlers(5 * time.Second) {
		t.Fatal("waitHandlers still waiting after every handler closed its connection")
	}
}

// TestStreamDialBoundsConnect checks that the TCP connect of a dial gets
// connectTimeout, not raft's whole timeout: an address a server moved away
// from answers nothing, and the dial must give up soon enough to ask the
// address provider for the new one.
func TestStreamDialBoundsConnect(t *testing.T) {
	t.Parallel()
	var left time.Duration
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		deadline, ok := ctx.Deadline()
		if !ok {
			return nil, errors.New("dial without a deadline")
		}
		left = time.Until(deadline)
		return nil, errors.New("refused by the test")
	}
	s, err := newStreamLayer(&Options{BindAddr: "127.0.0.1:0", Dial: dial}, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Dial("127.0.0.1:1", time.Minute); err == nil {
		t.Fatal("dial succeeded")
	}
	if left <= 0 || left > connectTimeout {
		t.Errorf("the connect had %s left, want at most %s", left, connectTimeout)
	}
}
