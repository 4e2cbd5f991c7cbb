package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type result struct {
	code   int
	header http.Header
	body   []byte
}

func startServer(t *testing.T, b Backend, cfg Config) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(New(b, cfg))
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, srv *httptest.Server, method, path string, hdr map[string]string, body io.Reader) result {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{code: resp.StatusCode, header: resp.Header, body: b}
}

// errMsg checks that an error answer is a JSON {"error": "..."} and returns the message.
func (r result) errMsg(t *testing.T) string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error answer has Content-Type %q, want application/json (body %q)", ct, r.body)
	}
	var e ErrorBody
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" {
		t.Fatalf("error answer %q is not {\"error\": \"...\"}: %v", r.body, err)
	}
	return e.Error
}

func (r result) decode(t *testing.T, v any) {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("status %d, want 200 (body %q)", r.code, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
}

func TestReadEndpoints(t *testing.T) {
	b := newLeaderBackend()
	srv := startServer(t, b, Config{})

	var st Status
	call(t, srv, "GET", "/v1/status", nil, nil).decode(t, &st)
	if st != b.status {
		t.Errorf("status = %+v, want %+v", st, b.status)
	}
	var members []Member
	call(t, srv, "GET", "/v1/members", nil, nil).decode(t, &members)
	if len(members) != 2 || members[1].Status != "suspect" || members[1].Zone != "b" {
		t.Errorf("members = %+v", members)
	}
	var rc RaftConfiguration
	call(t, srv, "GET", "/v1/raft/configuration", nil, nil).decode(t, &rc)
	if rc.Index != 7 || len(rc.Servers) != 2 || !rc.Servers[0].Leader || rc.Servers[1].Suffrage != "nonvoter" {
		t.Errorf("raft configuration = %+v", rc)
	}
	var h AutopilotHealth
	call(t, srv, "GET", "/v1/autopilot/health", nil, nil).decode(t, &h)
	if !h.Healthy || h.Leader != "n1" || len(h.Servers) != 1 {
		t.Errorf("autopilot health = %+v", h)
	}
	var stats ServerStats
	call(t, srv, "GET", "/v1/internal/stats", nil, nil).decode(t, &stats)
	if !reflect.DeepEqual(stats, b.stats) {
		t.Errorf("stats = %+v, want %+v", stats, b.stats)
	}
	var ok OK
	call(t, srv, "GET", "/v1/health/live", nil, nil).decode(t, &ok)
	call(t, srv, "GET", "/v1/health/ready", nil, nil).decode(t, &ok)
	if !ok.OK {
		t.Errorf("ready = %+v", ok)
	}
}

func TestEmptyCollectionsAreArrays(t *testing.T) {
	srv := startServer(t, &fakeBackend{leader: true}, Config{})
	for path, want := range map[string]string{
		"/v1/members":            `[]`,
		"/v1/raft/configuration": `"servers":[]`,
		"/v1/autopilot/health":   `"voters":[],"servers":[]`,
	} {
		r := call(t, srv, "GET", path, nil, nil)
		if r.code != 200 || !strings.Contains(string(r.body), want) {
			t.Errorf("GET %s = %d %s, want it to contain %s", path, r.code, r.body, want)
		}
	}
}

func TestReadyNotReady(t *testing.T) {
	b := newLeaderBackend()
	b.readyErr = ErrNoLeader
	srv := startServer(t, b, Config{})
	r := call(t, srv, "GET", "/v1/health/ready", nil, nil)
	if r.code != http.StatusServiceUnavailable {
		t.Fatalf("ready = %d, want 503", r.code)
	}
	if msg := r.errMsg(t); !strings.Contains(msg, "no cluster leader") {
		t.Errorf("error %q does not say why", msg)
	}
	if r := call(t, srv, "GET", "/v1/health/live", nil, nil); r.code != 200 {
		t.Errorf("live = %d, want 200 even when not ready", r.code)
	}
}

func TestOperatorWritesOnLeader(t *testing.T) {
	b := newLeaderBackend()
	srv := startServer(t, b, Config{})
	var ok OK
	call(t, srv, "DELETE", "/v1/raft/peers/n2", nil, nil).decode(t, &ok)
	call(t, srv, "POST", "/v1/raft/transfer-leadership?id=n2", nil, nil).decode(t, &ok)
	call(t, srv, "POST", "/v1/raft/transfer-leadership", nil, nil).decode(t, &ok)
	call(t, srv, "POST", "/v1/agent/leave", nil, nil).decode(t, &ok)
	removed, transfers, leaves := b.calls()
	if fmt.Sprint(removed) != "[n2]" || fmt.Sprint(transfers) != "[n2 ]" || leaves != 1 {
		t.Errorf("backend saw removed=%q transfers=%q leaves=%d", removed, transfers, leaves)
	}
}

func TestBackendErrorMapping(t *testing.T) {
	cases := map[string]struct {
		err  error
		code int
	}{
		"no leader":   {ErrNoLeader, 503},
		"unavailable": {fmt.Errorf("shutting down: %w", ErrUnavailable), 503},
		"not found":   {fmt.Errorf("server %q: %w", "n9", ErrNotFound), 404},
		"bad request": {fmt.Errorf("id: %w", ErrBadRequest), 400},
		"not server":  {ErrNotServer, 400},
		"conflict":    {fmt.Errorf("last voter: %w", ErrConflict), 409},
		"deadline":    {fmt.Errorf("waiting: %w", context.DeadlineExceeded), 504},
		"canceled":    {context.Canceled, 503},
		"other":       {errors.New("disk on fire"), 500},
	}
	// Each operator endpoint, run on a leader so nothing is forwarded.
	endpoints := []struct{ method, path string }{
		{"GET", "/v1/raft/configuration"},
		{"GET", "/v1/autopilot/health"},
		{"DELETE", "/v1/raft/peers/n9"},
		{"POST", "/v1/raft/transfer-leadership?id=n9"},
		{"POST", "/v1/agent/leave"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b := newLeaderBackend()
			b.err = tc.err
			srv := startServer(t, b, Config{})
			for _, ep := range endpoints {
				r := call(t, srv, ep.method, ep.path, nil, nil)
				if r.code != tc.code {
					t.Errorf("%s %s = %d, want %d (body %s)", ep.method, ep.path, r.code, tc.code, r.body)
				}
				if msg := r.errMsg(t); msg != tc.err.Error() {
					t.Errorf("%s %s error = %q, want %q", ep.method, ep.path, msg, tc.err.Error())
				}
			}
		})
	}
}

func TestLeaveIsNeverForwarded(t *testing.T) {
	b := &fakeBackend{err: ErrNotLeader, leaderAddr: "127.0.0.1:1"}
	srv := startServer(t, b, Config{})
	r := call(t, srv, "POST", "/v1/agent/leave", nil, nil)
	if r.code != 503 {
		t.Fatalf("leave with ErrNotLeader = %d, want 503", r.code)
	}
	r.errMsg(t)
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	srv := startServer(t, newLeaderBackend(), Config{})
	for _, path := range []string{"/", "/v1", "/v1/nope", "/v1/status/extra", "/v1/raft/peers/"} {
		r := call(t, srv, "GET", path, nil, nil)
		if r.code != 404 {
			t.Errorf("GET %s = %d, want 404", path, r.code)
			continue
		}
		if msg := r.errMsg(t); !strings.Contains(msg, path) {
			t.Errorf("GET %s: error %q does not name the path", path, msg)
		}
	}
	cases := []struct{ method, path, allow string }{
		{"POST", "/v1/status", "GET, HEAD"},
		{"PUT", "/v1/members", "GET, HEAD"},
		{"GET", "/v1/raft/peers/n1", "DELETE"},
		{"GET", "/v1/raft/transfer-leadership", "POST"},
		{"DELETE", "/v1/agent/leave", "POST"},
		{"POST", "/v1/health/ready", "GET, HEAD"},
	}
	for _, tc := range cases {
		r := call(t, srv, tc.method, tc.path, nil, nil)
		if r.code != 405 {
			t.Errorf("%s %s = %d, want 405", tc.method, tc.path, r.code)
			continue
		}
		if got := r.header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow = %q, want %q", tc.method, tc.path, got, tc.allow)
		}
		if msg := r.errMsg(t); !strings.Contains(msg, tc.method) || !strings.Contains(msg, tc.allow) {
			t.Errorf("%s %s: error %q should name the method and the allowed ones", tc.method, tc.path, msg)
		}
	}
}

func TestToken(t *testing.T) {
	const token = "s3cr3t-token"
	srv := startServer(t, newLeaderBackend(), Config{Token: token,
		Metrics: promhttp.HandlerFor(prometheus.NewRegistry(), promhttp.HandlerOpts{})})
	protected := []struct{ method, path string }{
		{"GET", "/v1/status"}, {"GET", "/v1/members"}, {"GET", "/v1/raft/configuration"},
		{"DELETE", "/v1/raft/peers/n2"}, {"POST", "/v1/raft/transfer-leadership"},
		{"GET", "/v1/autopilot/health"}, {"POST", "/v1/agent/leave"}, {"GET", "/v1/internal/stats"},
		{"GET", "/metrics"}, {"GET", "/v1/unknown"},
	}
	for _, ep := range protected {
		for name, tc := range map[string]struct {
			auth string
			code int
		}{
			"missing":      {"", 401},
			"not bearer":   {"Basic " + token, 401},
			"empty bearer": {"Bearer ", 401},
			"wrong":        {"Bearer nope", 403},
			"prefix":       {"Bearer " + token[:5], 403},
		} {
			hdr := map[string]string{}
			if tc.auth != "" {
				hdr["Authorization"] = tc.auth
			}
			r := call(t, srv, ep.method, ep.path, hdr, nil)
			if r.code != tc.code {
				t.Errorf("%s %s with %s token = %d, want %d", ep.method, ep.path, name, r.code, tc.code)
				continue
			}
			if msg := r.errMsg(t); strings.Contains(msg, token) {
				t.Errorf("error %q leaks the token", msg)
			}
		}
		r := call(t, srv, ep.method, ep.path, map[string]string{"Authorization": "Bearer " + token}, nil)
		if r.code == 401 || r.code == 403 {
			t.Errorf("%s %s with the right token = %d", ep.method, ep.path, r.code)
		}
	}
	for _, path := range []string{"/v1/health/live", "/v1/health/ready"} {
		if r := call(t, srv, "GET", path, nil, nil); r.code != 200 {
			t.Errorf("GET %s without a token = %d, want 200 (probes are public)", path, r.code)
		}
	}
}

func TestBodyTooLarge(t *testing.T) {
	b := newLeaderBackend()
	srv := startServer(t, b, Config{MaxBodyBytes: 16})
	r := call(t, srv, "POST", "/v1/agent/leave", nil, strings.NewReader(strings.Repeat("x", 17)))
	if r.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("17-byte body with a 16-byte limit = %d, want 413", r.code)
	}
	if msg := r.errMsg(t); !strings.Contains(msg, "16") {
		t.Errorf("error %q does not give the limit", msg)
	}
	if r := call(t, srv, "POST", "/v1/agent/leave", nil, strings.NewReader("small")); r.code != 200 {
		t.Errorf("small body = %d, want 200", r.code)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := Config{Registerer: reg, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	srv := startServer(t, newLeaderBackend(), cfg)
	// A second server on the same registry must share the counter, not panic.
	srv2 := startServer(t, newLeaderBackend(), cfg)
	call(t, srv, "GET", "/v1/status", nil, nil)
	call(t, srv2, "GET", "/v1/status", nil, nil)
	call(t, srv, "GET", "/nope", nil, nil)
	call(t, srv, "BREW", "/v1/status", nil, nil)
	r := call(t, srv, "GET", "/metrics", nil, nil)
	if r.code != 200 || !strings.Contains(string(r.body), "http_requests_total") {
		t.Fatalf("GET /metrics = %d %s", r.code, r.body)
	}
	for _, tc := range []struct {
		code, method string
		want         float64
	}{{"200", "GET", 3}, {"404", "GET", 1}, {"405", "OTHER", 1}} {
		if got := counterValue(t, reg, tc.code, tc.method); got != tc.want {
			t.Errorf("http_requests_total{code=%q,method=%q} = %v, want %v", tc.code, tc.method, got, tc.want)
		}
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, code, method string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "http_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["code"] == code && labels["method"] == method {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestMetricsNotConfigured(t *testing.T) {
	srv := startServer(t, newLeaderBackend(), Config{})
	if r := call(t, srv, "GET", "/metrics", nil, nil); r.code != 404 {
		t.Errorf("GET /metrics without a handler = %d, want 404", r.code)
	}
}

func TestDebugEndpoints(t *testing.T) {
	off := startServer(t, newLeaderBackend(), Config{Token: "secret"})
	auth := map[string]string{"Authorization": "Bearer secret"}
	if r := call(t, off, "GET", "/debug/pprof/", auth, nil); r.code != 404 {
		t.Errorf("GET /debug/pprof/ with debug off = %d, want 404", r.code)
	}
	on := startServer(t, newLeaderBackend(), Config{Token: "secret", EnableDebug: true})
	if r := call(t, on, "GET", "/debug/pprof/", nil, nil); r.code != 401 {
		t.Errorf("GET /debug/pprof/ without the token = %d, want 401", r.code)
	}
	if r := call(t, on, "GET", "/debug/pprof/", auth, nil); r.code != 200 || !strings.Contains(string(r.body), "goroutine") {
		t.Errorf("GET /debug/pprof/ with debug on = %d %q, want 200 and the profile index", r.code, r.body)
	}
}
