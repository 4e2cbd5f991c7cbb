package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseBlocking(t *testing.T) {
	fullSpread := func(n time.Duration) time.Duration { return n }
	tests := map[string]struct {
		query    string
		blocking bool
		want     BlockingQuery
		err      string
	}{
		"plain read":         {query: ""},
		"stale plain read":   {query: "stale"},
		"index, no wait":     {query: "index=7", blocking: true, want: BlockingQuery{Index: 7, Wait: DefaultBlockingWait * 17 / 16}},
		"index and wait":     {query: "index=7&wait=16s", blocking: true, want: BlockingQuery{Index: 7, Wait: 17 * time.Second}},
		"wait capped":        {query: "index=1&wait=1h", blocking: true, want: BlockingQuery{Index: 1, Wait: MaxBlockingWait * 17 / 16}},
		"index zero":         {query: "index=0&wait=1s", blocking: true, want: BlockingQuery{Wait: time.Second * 17 / 16}},
		"bad index":          {query: "index=-1", err: "index must be a non-negative integer"},
		"bad wait":           {query: "index=1&wait=soon", err: `wait must be a positive duration such as 30s or 5m, got "soon"`},
		"zero wait":          {query: "index=1&wait=0s", err: "wait must be a positive duration"},
		"bare seconds":       {query: "index=1&wait=10", err: "wait must be a positive duration"},
		"wait without index": {query: "wait=10s", err: "wait is only meaningful with index"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			got, blocking, err := parseBlocking(q, fullSpread)
			if tc.err != "" {
				if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want a bad request containing %q", err, tc.err)
				}
				return
			}
			if err != nil || blocking != tc.blocking || got != tc.want {
				t.Fatalf("= %+v, %v, %v; want %+v, %v", got, blocking, err, tc.want, tc.blocking)
			}
		})
	}
}

func TestRandomSpreadBounds(t *testing.T) {
	for range 1000 {
		if d := randomSpread(time.Second); d < 0 || d > time.Second {
			t.Fatalf("spread %s outside [0, 1s]", d)
		}
	}
	if randomSpread(0) != 0 {
		t.Fatal("spread of 0 is not 0")
	}
}

// TestExtendDeadlinesOutlivesServerTimeouts: a server with short read and
// write timeouts still answers a blocking read that waits past them, and
// the request's context is not cancelled by the read deadline.
func TestExtendDeadlinesOutlivesServerTimeouts(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		extendDeadlines(w, 2*time.Second)
		select {
		case <-time.After(600 * time.Millisecond): // holds the request open past the timeouts
			writeJSON(w, http.StatusOK, OK{OK: true})
		case <-r.Context().Done():
			writeError(w, http.StatusServiceUnavailable, "context ended: %v", r.Context().Err())
		}
	}))
	srv.Config.ReadTimeout = 200 * time.Millisecond
	srv.Config.WriteTimeout = 200 * time.Millisecond
	srv.Start()
	defer srv.Close()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("the long request failed: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestKVBlockingBadQuery(t *testing.T) {
	srv := startServer(t, &fakeBackend{leader: true}, Config{})
	for _, path := range []string{"/v1/kv/k?index=x", "/v1/kv/?prefix=p&index=1&wait=forever", "/v1/kv/k?wait=1s"} {
		if res := call(t, srv, "GET", path, nil, nil); res.code != http.StatusBadRequest || res.errMsg(t) == "" {
			t.Errorf("GET %s: %d %s", path, res.code, res.body)
		}
	}
	res := call(t, srv, "GET", "/v1/kv/missing?index=0", nil, nil)
	if res.code != http.StatusNotFound || res.header.Get(HeaderIndex) != "1" {
		t.Fatalf("missing key: %d, index %q", res.code, res.header.Get(HeaderIndex))
	}
}
