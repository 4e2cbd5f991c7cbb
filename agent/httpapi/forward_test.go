package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// pair starts a leader and a follower API on real loopback listeners; the
// follower's backend points at the leader's address.
func pair(t *testing.T, cfg Config) (leader, follower *fakeBackend, ls, fs *httptest.Server) {
	t.Helper()
	leader = newLeaderBackend()
	ls = startServer(t, leader, cfg)
	follower = newLeaderBackend()
	follower.leader = false
	follower.leaderAddr = strings.TrimPrefix(ls.URL, "http://")
	fs = startServer(t, follower, cfg)
	return leader, follower, ls, fs
}

func TestForwardOperatorWrites(t *testing.T) {
	leader, follower, _, fs := pair(t, Config{})
	var ok OK
	call(t, fs, "DELETE", "/v1/raft/peers/n%2F3", nil, nil).decode(t, &ok)
	call(t, fs, "POST", "/v1/raft/transfer-leadership?id=n2", nil, nil).decode(t, &ok)
	removed, transfers, _ := leader.calls()
	if fmt.Sprint(removed) != "[n/3]" || fmt.Sprint(transfers) != "[n2]" {
		t.Errorf("leader saw removed=%q transfers=%q, want [n/3] [n2]", removed, transfers)
	}
	if r, tr, _ := follower.calls(); len(r)+len(tr) != 0 {
		t.Errorf("follower did the work itself: removed=%q transfers=%q", r, tr)
	}
}

func TestForwardCopiesLeaderErrors(t *testing.T) {
	leader, _, _, fs := pair(t, Config{})
	leader.set(func(f *fakeBackend) { f.err = fmt.Errorf("server %q: %w", "n9", ErrNotFound) })
	r := call(t, fs, "DELETE", "/v1/raft/peers/n9", nil, nil)
	if r.code != 404 {
		t.Fatalf("forwarded remove of an unknown peer = %d, want the leader's 404", r.code)
	}
	if msg := r.errMsg(t); msg != `server "n9": not found` {
		t.Errorf("error = %q, want the leader's message", msg)
	}
}

func TestForwardWhenBackendSaysNotLeader(t *testing.T) {
	leader, follower, _, fs := pair(t, Config{})
	// The follower believed it led, but Raft refused: the request still
	// reaches the real leader. Reads that need the leader are forwarded too.
	follower.set(func(f *fakeBackend) { f.leader = true; f.err = ErrNotLeader })
	var ok OK
	call(t, fs, "POST", "/v1/raft/transfer-leadership", nil, nil).decode(t, &ok)
	var h AutopilotHealth
	call(t, fs, "GET", "/v1/autopilot/health", nil, nil).decode(t, &h)
	if h.Leader != "n1" {
		t.Errorf("forwarded autopilot health = %+v", h)
	}
	if _, transfers, _ := leader.calls(); len(transfers) != 1 {
		t.Errorf("leader saw %d transfers, want 1", len(transfers))
	}
}

func TestForwardWithToken(t *testing.T) {
	const token = "tok"
	leader, _, _, fs := pair(t, Config{Token: token})
	r := call(t, fs, "DELETE", "/v1/raft/peers/n2", map[string]string{"Authorization": "Bearer " + token}, nil)
	if r.code != 200 {
		t.Fatalf("forwarded remove with a token = %d %s", r.code, r.body)
	}
	if removed, _, _ := leader.calls(); len(removed) != 1 {
		t.Errorf("leader saw %q", removed)
	}
}

func TestNoDoubleForwarding(t *testing.T) {
	// Two nodes that each think the other leads: the request is forwarded
	// once and the second hop refuses instead of bouncing it back.
	a := newLeaderBackend()
	a.leader = false
	b := newLeaderBackend()
	b.leader = false
	as := startServer(t, a, Config{})
	bs := startServer(t, b, Config{})
	a.leaderAddr = strings.TrimPrefix(bs.URL, "http://")
	b.set(func(f *fakeBackend) { f.leaderAddr = strings.TrimPrefix(as.URL, "http://") })
	r := call(t, as, "DELETE", "/v1/raft/peers/n2", nil, nil)
	if r.code != 503 {
		t.Fatalf("ping-pong forward = %d, want 503", r.code)
	}
	if msg := r.errMsg(t); !strings.Contains(msg, "leadership changed") {
		t.Errorf("error = %q, want it to say leadership changed", msg)
	}
	// A request that already carries the header is refused at once.
	r = call(t, as, "DELETE", "/v1/raft/peers/n2", map[string]string{ForwardedHeader: "1"}, nil)
	if r.code != 503 {
		t.Errorf("pre-forwarded request on a follower = %d, want 503", r.code)
	}
}

func TestForwardNoLeader(t *testing.T) {
	b := newLeaderBackend()
	b.leader = false
	srv := startServer(t, b, Config{})
	for _, ep := range []struct{ method, path string }{
		{"DELETE", "/v1/raft/peers/n2"}, {"POST", "/v1/raft/transfer-leadership"},
	} {
		r := call(t, srv, ep.method, ep.path, nil, nil)
		if r.code != 503 {
			t.Errorf("%s %s without a leader = %d, want 503", ep.method, ep.path, r.code)
			continue
		}
		if msg := r.errMsg(t); !strings.Contains(msg, "no cluster leader") {
			t.Errorf("error = %q, want it to say there is no leader", msg)
		}
	}
}

func TestForwardLeaderUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there any more
	b := newLeaderBackend()
	b.leader = false
	b.leaderAddr = dead
	srv := startServer(t, b, Config{})
	r := call(t, srv, "DELETE", "/v1/raft/peers/n2", nil, nil)
	if r.code != 503 {
		t.Fatalf("forward to a dead leader = %d, want 503", r.code)
	}
	if msg := r.errMsg(t); !strings.Contains(msg, dead) {
		t.Errorf("error = %q, want it to name %s", msg, dead)
	}
}

func TestForwardBodyTooLarge(t *testing.T) {
	_, _, _, fs := pair(t, Config{MaxBodyBytes: 8})
	// Chunked, so the size is only found out while reading.
	req, err := http.NewRequest("DELETE", fs.URL+"/v1/raft/peers/n2", struct{ *strings.Reader }{strings.NewReader(strings.Repeat("x", 64))})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := fs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized chunked body = %d, want 413", resp.StatusCode)
	}
}
