package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// snapBackend is a fakeBackend with snapshots: Save streams data, Restore
// reads the whole body and records it.
type snapBackend struct {
	*fakeBackend
	data []byte

	mu       sync.Mutex
	restored []byte
	forced   bool
}

func (s *snapBackend) SnapshotSave(_ context.Context, _ bool) (SnapshotArchive, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	return &fakeArchive{r: bytes.NewReader(s.data)}, nil
}

func (s *snapBackend) SnapshotRestore(_ context.Context, body io.Reader, force bool) (SnapshotRestored, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return SnapshotRestored{}, fmt.Errorf("receive the snapshot: %w", err)
	}
	if bytes.HasPrefix(b, []byte("corrupt")) {
		return SnapshotRestored{}, fmt.Errorf("%w: corrupt snapshot", ErrBadRequest)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restored, s.forced = b, force
	return SnapshotRestored{Index: 7, Keys: 3}, nil
}

type fakeArchive struct{ r *bytes.Reader }

func (a *fakeArchive) WriteTo(w io.Writer) (int64, error) { return a.r.WriteTo(w) }
func (a *fakeArchive) Close() error                       { return nil }
func (a *fakeArchive) Index() uint64                      { return 42 }

func TestSnapshotRoutes(t *testing.T) {
	big := bytes.Repeat([]byte("s"), 3<<20) // above the 1 MiB body cap of other routes
	leader := &snapBackend{fakeBackend: newLeaderBackend(), data: big}
	lsrv := startServer(t, leader, Config{Token: "tok", MaxSnapshotBytes: 4 << 20})
	follower := &snapBackend{fakeBackend: &fakeBackend{leaderAddr: strings.TrimPrefix(lsrv.URL, "http://")}}
	fsrv := startServer(t, follower, Config{Token: "tok", MaxSnapshotBytes: 4 << 20})
	auth := map[string]string{"Authorization": "Bearer tok"}

	for name, srv := range map[string]string{"leader": lsrv.URL, "follower (forwarded)": fsrv.URL} {
		t.Run(name, func(t *testing.T) {
			s := lsrv
			if srv == fsrv.URL {
				s = fsrv
			}
			got := call(t, s, http.MethodGet, "/v1/snapshot", auth, nil)
			if got.code != http.StatusOK || !bytes.Equal(got.body, big) || got.header.Get(HeaderIndex) != "42" ||
				got.header.Get("Content-Type") != "application/octet-stream" {
				t.Fatalf("GET: %d, %d bytes, index %q, type %q", got.code, len(got.body), got.header.Get(HeaderIndex), got.header.Get("Content-Type"))
			}
			put := call(t, s, http.MethodPut, "/v1/snapshot?force", auth, bytes.NewReader(big))
			if put.code != http.StatusOK || !bytes.Equal(leader.restored, big) || !leader.forced {
				t.Fatalf("PUT: %d %s; the leader restored %d bytes, forced %v", put.code, put.body, len(leader.restored), leader.forced)
			}
			if r := call(t, s, http.MethodPut, "/v1/snapshot", auth, strings.NewReader("corrupt!")); r.code != http.StatusBadRequest {
				t.Fatalf("corrupt PUT: %d %s, want 400", r.code, r.body)
			}
			// Beyond MaxSnapshotBytes: 413, by Content-Length or while streaming.
			huge := bytes.Repeat([]byte("x"), 5<<20)
			if r := call(t, s, http.MethodPut, "/v1/snapshot", auth, bytes.NewReader(huge)); r.code != http.StatusRequestEntityTooLarge {
				t.Fatalf("oversized PUT: %d %s, want 413", r.code, r.body)
			}
			if r := call(t, s, http.MethodPut, "/v1/snapshot", auth, io.MultiReader(bytes.NewReader(huge))); r.code != http.StatusRequestEntityTooLarge {
				t.Fatalf("oversized chunked PUT: %d %s, want 413", r.code, r.body)
			}
			if r := call(t, s, http.MethodGet, "/v1/snapshot", nil, nil); r.code != http.StatusUnauthorized {
				t.Fatalf("GET without the token: %d %s, want 401", r.code, r.body)
			}
		})
	}
	// The snapshot cap is the snapshot route's only: a KV value stays capped.
	if r := call(t, lsrv, http.MethodPut, "/v1/kv/big", auth, bytes.NewReader(big)); r.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("3 MiB KV value: %d, want 413", r.code)
	}
}

func TestSnapshotRoutesWithoutSupport(t *testing.T) {
	srv := startServer(t, newLeaderBackend(), Config{})
	for _, m := range []string{http.MethodGet, http.MethodPut} {
		if r := call(t, srv, m, "/v1/snapshot", nil, strings.NewReader("x")); r.code != http.StatusNotImplemented {
			t.Fatalf("%s: %d, want 501", m, r.code)
		}
	}
}
