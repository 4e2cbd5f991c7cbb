package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusteragent/agent/api"
)

// routePattern finds the method patterns the server registers.
var routePattern = regexp.MustCompile(`"((?:GET|PUT|POST|DELETE) /[^"]*)"`)

// serverRoutes are the patterns agent/httpapi registers, read from its
// source, without the debug routes (profiles are for a browser or pprof).
func serverRoutes(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join("..", "agent", "httpapi", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	seen := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range routePattern.FindAllStringSubmatch(string(src), -1) {
			// A pattern may appear twice (the open-reads table).
			if !strings.Contains(m[1], "/debug/") && !seen[m[1]] {
				seen[m[1]] = true
				out = append(out, m[1])
			}
		}
	}
	if len(out) < 20 {
		t.Fatalf("found only %d routes in agent/httpapi; the pattern no longer matches how routes are registered", len(out))
	}
	return out
}

// TestClientCoversEveryRoute routes the Client's calls through a mux
// holding the server's own patterns and checks each pattern was reached.
func TestClientCoversEveryRoute(t *testing.T) {
	mux := http.NewServeMux()
	var mu sync.Mutex
	hit := map[string]bool{}
	for _, p := range serverRoutes(t) {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hit[p] = true
			mu.Unlock()
			w.Header().Set(api.HeaderIndex, "1")
			switch {
			case r.URL.Path == "/v1/members" || (r.URL.Path == "/v1/kv/" && r.Method == http.MethodGet):
				_, _ = io.WriteString(w, "[]")
			case r.URL.Path == "/metrics" || r.URL.Path == "/v1/snapshot" && r.Method == http.MethodGet:
				_, _ = io.WriteString(w, "data")
			default:
				_, _ = io.WriteString(w, `{"ok":true,"id":"1","ttl":"1s"}`)
			}
		})
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := api.NewClient(api.Config{Address: srv.URL, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var errs []error
	note := func(err error) { errs = append(errs, err) }
	_, err = c.Status(ctx)
	note(err)
	_, err = c.Members(ctx)
	note(err)
	_, err = c.RaftConfiguration(ctx)
	note(err)
	note(c.RaftRemovePeer(ctx, "n1"))
	note(c.RaftTransferLeadership(ctx, ""))
	_, err = c.AutopilotHealth(ctx)
	note(err)
	_, err = c.ServerStats(ctx)
	note(err)
	note(c.Leave(ctx))
	note(c.Reload(ctx))
	_, err = c.KeyringList(ctx)
	note(err)
	_, err = c.KeyringInstall(ctx, "k")
	note(err)
	_, _, err = c.KVGet(ctx, "k", nil)
	note(err)
	_, _, err = c.KVList(ctx, "", nil)
	note(err)
	_, err = c.KVPut(ctx, "k", []byte("v"), nil)
	note(err)
	_, err = c.KVDelete(ctx, "k", nil)
	note(err)
	_, err = c.LeaseGrant(ctx, time.Second)
	note(err)
	_, err = c.LeaseRenew(ctx, "1")
	note(err)
	_, err = c.LeaseShow(ctx, "1")
	note(err)
	_, err = c.LeaseRevoke(ctx, "1")
	note(err)
	_, err = c.SnapshotSave(ctx, io.Discard, false)
	note(err)
	_, err = c.SnapshotRestore(ctx, bytes.NewReader([]byte("x")), 1, false)
	note(err)
	note(c.Live(ctx))
	note(c.Ready(ctx))
	note(c.Metrics(ctx, io.Discard))
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	for _, p := range serverRoutes(t) {
		if !hit[p] {
			t.Errorf("the server registers %q, which no Client method calls", p)
		}
	}
}
