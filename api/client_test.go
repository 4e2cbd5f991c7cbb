package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/api"
)

// recorded is what a fake agent saw of one request.
type recorded struct {
	method, path, query, auth, contentType string
	length                                 int64
	body                                   []byte
}

// fakeAgent answers every request with handler, after recording it.
func fakeAgent(t *testing.T, handler func(w http.ResponseWriter, r *http.Request)) (*api.Client, *[]recorded) {
	t.Helper()
	var seen []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen = append(seen, recorded{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), r.ContentLength, body})
		r.Body = io.NopCloser(bytes.NewReader(body))
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := api.NewClient(api.Config{Address: srv.URL, Token: "s3cret", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c, &seen
}

func answer(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

// TestEveryCall checks each method's route, query and body against what
// the agent serves, and that the answer decodes.
func TestEveryCall(t *testing.T) {
	ctx := context.Background()
	c, seen := fakeAgent(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/status":
			answer(w, 200, `{"node_id":"n1","leader_id":"n2","term":3}`)
		case r.URL.Path == "/v1/members":
			answer(w, 200, `[{"id":"n1","addr":"127.0.0.1:7946","status":"alive"}]`)
		case r.URL.Path == "/v1/raft/configuration":
			answer(w, 200, `{"index":9,"servers":[{"id":"n1","suffrage":"voter","leader":true}]}`)
		case r.URL.Path == "/v1/autopilot/health":
			answer(w, 200, `{"healthy":true,"failure_tolerance":1,"voters":["n1"]}`)
		case r.URL.Path == "/v1/internal/stats":
			answer(w, 200, `{"node_id":"n1","last_index":7}`)
		case strings.HasPrefix(r.URL.Path, "/v1/agent/keyring"):
			answer(w, 200, `{"op":"x","fingerprint":"abcd1234","num_nodes":3}`)
		case r.URL.Path == "/v1/lease" && r.Method == http.MethodPost:
			answer(w, 200, `{"id":"17","ttl":"10s"}`)
		case strings.HasPrefix(r.URL.Path, "/v1/lease/17") && r.Method == http.MethodGet:
			answer(w, 200, `{"id":"17","ttl":"10s","remaining":"9s","keys":["a"]}`)
		case strings.HasPrefix(r.URL.Path, "/v1/lease/"):
			answer(w, 200, `{"id":"17","ttl":"10s","ok":true,"index":20}`)
		default:
			answer(w, 200, `{"ok":true}`)
		}
	})
	check := func(what string, err error, ok bool) {
		t.Helper()
		if err != nil || !ok {
			t.Errorf("%s: err %v, decoded ok %t", what, err, ok)
		}
	}
	st, err := c.Status(ctx)
	check("Status", err, st.NodeID == "n1" && st.LeaderID == "n2" && st.Term == 3)
	ms, err := c.Members(ctx)
	check("Members", err, len(ms) == 1 && ms[0].Status == "alive")
	conf, err := c.RaftConfiguration(ctx)
	check("RaftConfiguration", err, conf.Index == 9 && conf.Servers[0].Leader)
	h, err := c.AutopilotHealth(ctx)
	check("AutopilotHealth", err, h.Healthy && h.FailureTolerance == 1)
	ss, err := c.ServerStats(ctx)
	check("ServerStats", err, ss.LastIndex == 7)
	check("RaftRemovePeer", c.RaftRemovePeer(ctx, "n 3"), true)
	check("RaftTransferLeadership", c.RaftTransferLeadership(ctx, "n2"), true)
	check("RaftTransferLeadership any", c.RaftTransferLeadership(ctx, ""), true)
	check("Leave", c.Leave(ctx), true)
	check("Reload", c.Reload(ctx), true)
	check("Live", c.Live(ctx), true)
	check("Ready", c.Ready(ctx), true)
	kr, err := c.KeyringList(ctx)
	check("KeyringList", err, kr.NumNodes == 3)
	kr, err = c.KeyringInstall(ctx, "a2V5")
	check("KeyringInstall", err, kr.Fingerprint == "abcd1234")
	_, err = c.KeyringUse(ctx, "a2V5")
	check("KeyringUse", err, true)
	_, err = c.KeyringRemove(ctx, "a2V5")
	check("KeyringRemove", err, true)
	li, err := c.LeaseGrant(ctx, 10*time.Second)
	check("LeaseGrant", err, li.ID == "17" && li.TTL == "10s")
	_, err = c.LeaseRenew(ctx, "17")
	check("LeaseRenew", err, true)
	ld, err := c.LeaseShow(ctx, "17")
	check("LeaseShow", err, ld.Remaining == "9s" && len(ld.Keys) == 1)
	lw, err := c.LeaseRevoke(ctx, "17")
	check("LeaseRevoke", err, lw.OK && lw.Index == 20)

	want := []recorded{
		{method: "GET", path: "/v1/status"},
		{method: "GET", path: "/v1/members"},
		{method: "GET", path: "/v1/raft/configuration"},
		{method: "GET", path: "/v1/autopilot/health"},
		{method: "GET", path: "/v1/internal/stats"},
		{method: "DELETE", path: "/v1/raft/peers/n%203"},
		{method: "POST", path: "/v1/raft/transfer-leadership", query: "id=n2"},
		{method: "POST", path: "/v1/raft/transfer-leadership"},
		{method: "POST", path: "/v1/agent/leave"},
		{method: "POST", path: "/v1/agent/reload"},
		{method: "GET", path: "/v1/health/live"},
		{method: "GET", path: "/v1/health/ready"},
		{method: "GET", path: "/v1/agent/keyring"},
		{method: "POST", path: "/v1/agent/keyring/install", body: []byte(`{"key":"a2V5"}`)},
		{method: "POST", path: "/v1/agent/keyring/use", body: []byte(`{"key":"a2V5"}`)},
		{method: "POST", path: "/v1/agent/keyring/remove", body: []byte(`{"key":"a2V5"}`)},
		{method: "POST", path: "/v1/lease", body: []byte(`{"ttl":"10s"}`)},
		{method: "PUT", path: "/v1/lease/17/renew"},
		{method: "GET", path: "/v1/lease/17"},
		{method: "DELETE", path: "/v1/lease/17"},
	}
	if len(*seen) != len(want) {
		t.Fatalf("the agent saw %d requests, want %d: %+v", len(*seen), len(want), *seen)
	}
	for i, w := range want {
		g := (*seen)[i]
		if g.method != w.method || g.path != w.path || g.query != w.query || !bytes.Equal(g.body, w.body) || g.auth != "Bearer s3cret" {
			t.Errorf("request %d: %s %s?%s body %q auth %q; want %s %s?%s body %q with the token",
				i, g.method, g.path, g.query, g.body, g.auth, w.method, w.path, w.query, w.body)
		}
	}
}

func TestKV(t *testing.T) {
	ctx := context.Background()
	c, seen := fakeAgent(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(api.HeaderIndex, "12")
		w.Header().Set(api.HeaderKnownLeader, "true")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/v1/kv/":
			answer(w, 200, `[{"key":"a/b","value":"djE=","create_index":3,"modify_index":5}]`)
		case r.Method == http.MethodGet && r.URL.Path == "/v1/kv/gone":
			answer(w, 404, `{"error":"key \"gone\" not found"}`)
		case r.Method == http.MethodGet:
			answer(w, 200, `{"key":"a/b c","value":"djE=","create_index":3,"modify_index":5}`)
		case r.URL.Query().Has("cas"):
			answer(w, 200, `{"ok":false,"index":12}`)
		default:
			answer(w, 200, `{"ok":true,"index":13}`)
		}
	})
	e, meta, err := c.KVGet(ctx, "a/b c", nil)
	if err != nil || string(e.Value) != "v1" || e.ModifyIndex != 5 || meta.Index != 12 || !meta.KnownLeader {
		t.Errorf("KVGet = %+v, %+v, %v", e, meta, err)
	}
	_, meta, err = c.KVGet(ctx, "gone", &api.QueryOptions{Stale: true, WaitIndex: 11, WaitTime: 2 * time.Second})
	var se *api.StatusError
	if !errors.Is(err, api.ErrNotFound) || !errors.As(err, &se) || se.Message != `key "gone" not found` || meta.Index != 12 {
		t.Errorf("blocking KVGet of a missing key = %+v, %v; want ErrNotFound with the server's message and index 12", meta, err)
	}
	list, _, err := c.KVList(ctx, "a/", nil)
	if err != nil || len(list) != 1 || list[0].Key != "a/b" {
		t.Errorf("KVList = %+v, %v", list, err)
	}
	res, err := c.KVPut(ctx, "k", []byte("v"), &api.PutOptions{Lease: "17"})
	if err != nil || !res.OK || res.Index != 13 {
		t.Errorf("KVPut = %+v, %v", res, err)
	}
	res, err = c.KVPut(ctx, "k", []byte("v"), &api.PutOptions{CAS: api.Index(0), Lease: "17"})
	if !errors.Is(err, api.ErrCASFailed) || res.OK || res.Index != 12 {
		t.Errorf("KVPut with a failing CAS = %+v, %v; want ErrCASFailed and the answer", res, err)
	}
	if _, err = c.KVDelete(ctx, "k", &api.PutOptions{CAS: api.Index(4)}); !errors.Is(err, api.ErrCASFailed) {
		t.Errorf("KVDelete with a failing CAS: %v, want ErrCASFailed", err)
	}
	if _, err := c.KVPut(ctx, "", []byte("v"), nil); !errors.Is(err, api.ErrBadRequest) {
		t.Errorf("KVPut of an empty key: %v, want ErrBadRequest before any request", err)
	}
	want := []recorded{
		{method: "GET", path: "/v1/kv/a/b%20c"},
		{method: "GET", path: "/v1/kv/gone", query: "index=11&stale=&wait=2s"},
		{method: "GET", path: "/v1/kv/", query: "prefix=a%2F"},
		{method: "PUT", path: "/v1/kv/k", query: "lease=17", body: []byte("v"), length: 1},
		{method: "PUT", path: "/v1/kv/k", query: "cas=0&lease=17", body: []byte("v"), length: 1},
		{method: "DELETE", path: "/v1/kv/k", query: "cas=4"},
	}
	if len(*seen) != len(want) {
		t.Fatalf("the agent saw %d requests, want %d: %+v", len(*seen), len(want), *seen)
	}
	for i, w := range want {
		g := (*seen)[i]
		if g.method != w.method || g.path != w.path || g.query != w.query || !bytes.Equal(g.body, w.body) || g.length != w.length {
			t.Errorf("request %d: %s %s?%s body %q (length %d); want %s %s?%s body %q (length %d)",
				i, g.method, g.path, g.query, g.body, g.length, w.method, w.path, w.query, w.body, w.length)
		}
	}
}

func TestStatusErrors(t *testing.T) {
	cases := map[string]struct {
		code int
		body string
		is   error
	}{
		"no leader":  {503, `{"error":"no cluster leader: none elected within 5s; retry later"}`, api.ErrNoLeader},
		"forbidden":  {403, `{"error":"invalid token"}`, api.ErrForbidden},
		"no token":   {401, `{"error":"missing token"}`, api.ErrUnauthorized},
		"bad":        {400, `{"error":"unknown server ID \"n9\""}`, api.ErrBadRequest},
		"too large":  {413, `{"error":"request body exceeds the 1048576-byte limit"}`, api.ErrTooLarge},
		"not found":  {404, `{"error":"no lease 9"}`, api.ErrNotFound},
		"conflict":   {409, `{"error":"snapshot from cluster x"}`, api.ErrConflict},
		"not ready":  {503, `{"error":"not ready: no leader known"}`, api.ErrUnavailable},
		"plain text": {502, "upstream down", nil},
	}
	for name, tc := range cases {
		c, _ := fakeAgent(t, func(w http.ResponseWriter, _ *http.Request) { answer(w, tc.code, tc.body) })
		err := c.RaftTransferLeadership(context.Background(), "n9")
		var se *api.StatusError
		if !errors.As(err, &se) || se.StatusCode != tc.code {
			t.Errorf("%s: %v, want a *StatusError with status %d", name, err, tc.code)
			continue
		}
		var eb api.ErrorBody
		if json.Unmarshal([]byte(tc.body), &eb) == nil && se.Message != eb.Error {
			t.Errorf("%s: message %q, want the server's %q", name, se.Message, eb.Error)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: %v does not match %v", name, err, tc.is)
		}
	}
}

func TestSnapshotStreams(t *testing.T) {
	archive := bytes.Repeat([]byte("snapshot-bytes "), 10000)
	c, seen := fakeAgent(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w.Header().Set(api.HeaderIndex, "99")
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(archive)
			return
		}
		answer(w, 200, `{"index":99,"term":2,"keys":4,"cluster_id":"c1","applied_index":120}`)
	})
	var got bytes.Buffer
	index, err := c.SnapshotSave(context.Background(), &got, true)
	if err != nil || index != 99 || !bytes.Equal(got.Bytes(), archive) {
		t.Fatalf("SnapshotSave: index %d, %d bytes, %v; want index 99 and the %d bytes served", index, got.Len(), err, len(archive))
	}
	res, err := c.SnapshotRestore(context.Background(), bytes.NewReader(archive), int64(len(archive)), true)
	if err != nil || res.Keys != 4 || res.AppliedIndex != 120 || res.ClusterID != "c1" {
		t.Fatalf("SnapshotRestore = %+v, %v", res, err)
	}
	put := (*seen)[1]
	if put.method != "PUT" || put.path != "/v1/snapshot" || put.query != "force=" || !bytes.Equal(put.body, archive) ||
		put.length != int64(len(archive)) || put.contentType != "application/octet-stream" {
		t.Errorf("restore sent %s %s?%s, %d bytes (Content-Length %d, %s); want PUT /v1/snapshot?force= with the archive",
			put.method, put.path, put.query, len(put.body), put.length, put.contentType)
	}
	if (*seen)[0].query != "stale=" {
		t.Errorf("stale save sent query %q, want stale=", (*seen)[0].query)
	}
}

// TestContextCancels checks a call returns once its context ends, even
// when the agent never answers.
func TestContextCancels(t *testing.T) {
	release := make(chan struct{})
	c, _ := fakeAgent(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := c.KVGet(ctx, "k", &api.QueryOptions{WaitIndex: 5, WaitTime: time.Minute})
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled blocking read: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled blocking read did not return within 10s")
	}
}

// TestTimeoutSparesBlockingReads checks Config.Timeout bounds an ordinary
// call but not a blocking read, whose wait bounds it instead.
func TestTimeoutSparesBlockingReads(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("index") {
			select {
			case <-time.After(600 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		} else {
			<-r.Context().Done()
			return
		}
		w.Header().Set(api.HeaderIndex, "8")
		answer(w, 200, `{"key":"k","value":"","modify_index":8}`)
	}))
	defer srv.Close()
	c, err := api.NewClient(api.Config{Address: srv.URL, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(context.Background()); err == nil {
		t.Error("an ordinary call outlived Config.Timeout against an agent that never answers")
	}
	e, meta, err := c.KVGet(context.Background(), "k", &api.QueryOptions{WaitIndex: 7, WaitTime: time.Second})
	if err != nil || e.ModifyIndex != 8 || meta.Index != 8 {
		t.Errorf("blocking read that answers after the ordinary timeout: %+v, %+v, %v", e, meta, err)
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer(w, 200, `{"node_id":"n1"}`)
	}))
	// The refused handshakes are the point; their logs are noise.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pemOf(srv), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(srv.URL, "https://")
	cases := map[string]struct {
		tls api.TLSConfig
		ok  bool
	}{
		"CA file":               {api.TLSConfig{CAFile: caFile}, true},
		"CA PEM":                {api.TLSConfig{CAPEM: pemOf(srv)}, true},
		"server name in cert":   {api.TLSConfig{CAFile: caFile, ServerName: "example.com"}, true},
		"server name not in it": {api.TLSConfig{CAFile: caFile, ServerName: "wrong.test"}, false},
		"unknown CA":            {api.TLSConfig{ServerName: "example.com"}, false},
	}
	for name, c := range cases {
		cl, err := api.NewClient(api.Config{Address: addr, TLS: c.tls, Timeout: 10 * time.Second})
		if err != nil {
			t.Errorf("%s: NewClient: %v", name, err)
			continue
		}
		st, err := cl.Status(context.Background())
		if c.ok && (err != nil || st.NodeID != "n1") {
			t.Errorf("%s: Status = %+v, %v; want an answer over HTTPS", name, st, err)
		}
		if !c.ok && err == nil {
			t.Errorf("%s: Status succeeded; want a certificate error", name)
		}
	}
	for name, tc := range map[string]api.TLSConfig{
		"missing CA file": {CAFile: filepath.Join(t.TempDir(), "nope.pem")},
		"CA not PEM":      {CAPEM: []byte("not a certificate")},
		"cert, no key":    {CAFile: caFile, CertFile: caFile},
	} {
		if _, err := api.NewClient(api.Config{Address: addr, TLS: tc}); err == nil {
			t.Errorf("%s: NewClient succeeded; want an error naming the setting", name)
		}
	}
}
