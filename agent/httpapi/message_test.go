package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestMessage(t *testing.T) {
	cases := map[string]struct {
		err  error
		want string
	}{
		"kind dropped":         {fmt.Errorf("%w: invalid key: key is empty", ErrBadRequest), "invalid key: key is empty"},
		"not leader once":      {fmt.Errorf("%w: %v", ErrNotLeader, errors.New("not the leader; leader is n2 at h:1")), "not the leader; leader is n2 at h:1"},
		"bare kind kept":       {ErrNotFound, "not found"},
		"unrelated prefix":     {errors.New("conflict: but not ErrConflict"), "conflict: but not ErrConflict"},
		"streamed body":        {fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 1024}), "request body exceeds the 1024-byte limit"},
		"plain error verbatim": {errors.New("cert_file x: no PEM data"), "cert_file x: no PEM data"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := message(tc.err); got != tc.want {
				t.Fatalf("message(%q) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

// onlyReader hides the body's type, so the client sends it chunked, without
// a Content-Length, as the CLI does for a file it streams.
type onlyReader struct{ io.Reader }

// TestStreamedBodyTooLarge: a body over the limit that gave no length gets
// the same 413 sentence as one that declared its length, not net/http's
// "http: request body too large".
func TestStreamedBodyTooLarge(t *testing.T) {
	srv := startServer(t, newLeaderBackend(), Config{MaxBodyBytes: 1024})
	for name, body := range map[string]io.Reader{
		"chunked":        onlyReader{strings.NewReader(strings.Repeat("x", 4096))},
		"content-length": strings.NewReader(strings.Repeat("x", 4096)),
	} {
		t.Run(name, func(t *testing.T) {
			r := call(t, srv, "PUT", "/v1/kv/big", nil, body)
			if r.code != http.StatusRequestEntityTooLarge || r.errMsg(t) != "request body exceeds the 1024-byte limit" {
				t.Fatalf("got %d %s", r.code, r.body)
			}
		})
	}
}
