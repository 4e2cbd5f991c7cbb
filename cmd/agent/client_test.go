package main

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/clusteragent/agent/tlsutil"
)

// cannedAPI answers like an agent with fixed JSON and records the requests.
type cannedAPI struct {
	mu       sync.Mutex
	requests []string // "METHOD path?query auth body"
	answers  map[string]cannedAnswer
}

type cannedAnswer struct {
	code int
	body string
}

func startCannedAPI(t *testing.T, answers map[string]cannedAnswer) (*cannedAPI, *httptest.Server) {
	t.Helper()
	api := &cannedAPI{answers: answers}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return api, srv
}

func (a *cannedAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key := r.Method + " " + r.URL.EscapedPath()
	a.mu.Lock()
	a.requests = append(a.requests, strings.TrimSpace(key+"?"+r.URL.RawQuery+" "+r.Header.Get("Authorization")+" "+string(body)))
	a.mu.Unlock()
	ans, ok := a.answers[key]
	if !ok {
		ans = cannedAnswer{404, `{"error":"no such endpoint: ` + r.URL.Path + `"}`}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ans.code)
	_, _ = io.WriteString(w, ans.body)
}

func (a *cannedAPI) last() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.requests) == 0 {
		return ""
	}
	return a.requests[len(a.requests)-1]
}

const (
	membersJSON = `[{"id":"n1","addr":"127.0.0.1:7946","status":"alive","raft_addr":"127.0.0.1:7000","role":"server","zone":"a","meta":{}},` +
		`{"id":"client-1","addr":"127.0.0.1:7947","status":"left","raft_addr":"","role":"client","zone":"","meta":{}}]`
	raftJSON = `{"index":12,"servers":[{"id":"n1","address":"127.0.0.1:7000","suffrage":"voter","leader":true},` +
		`{"id":"n2","address":"127.0.0.1:7001","suffrage":"nonvoter","leader":false}]}`
	healthJSON = `{"healthy":true,"failure_tolerance":1,"leader":"n1","voters":["n1","n2","n3"],"servers":[` +
		`{"id":"n1","address":"127.0.0.1:7000","node_status":"alive","healthy":true,"voter":true,"leader":true,"last_contact":"0s","last_term":2,"last_index":40,"stable_since":"2024-01-02T03:04:05Z"}]}`
)

func clientAnswers() map[string]cannedAnswer {
	return map[string]cannedAnswer{
		"GET /v1/members":                   {200, membersJSON},
		"GET /v1/raft/configuration":        {200, raftJSON},
		"GET /v1/autopilot/health":          {200, healthJSON},
		"DELETE /v1/raft/peers/n2":          {200, `{"ok":true}`},
		"DELETE /v1/raft/peers/ghost":       {404, `{"error":"server \"ghost\" is not in the Raft configuration"}`},
		"POST /v1/raft/transfer-leadership": {200, `{"ok":true}`},
		"POST /v1/agent/leave":              {200, `{"ok":true}`},
		"PUT /v1/kv/app/color":              {200, `{"ok":true,"index":17}`},
		"PUT /v1/kv/app/cas":                {200, `{"ok":false,"index":17}`},
		"GET /v1/kv/app/color":              {200, `{"key":"app/color","value":"Ymx1ZQ==","create_index":3,"modify_index":17}`},
		"GET /v1/kv/app/missing":            {404, `{"error":"key \"app/missing\" not found"}`},
		"DELETE /v1/kv/app/color":           {200, `{"ok":true,"index":18}`},
		"GET /v1/kv/":                       {200, `[{"key":"app/color","value":"Ymx1ZQ==","create_index":3,"modify_index":17},{"key":"app/bin","value":"AAE=","create_index":4,"modify_index":4}]`},
	}
}

func TestClientTables(t *testing.T) {
	_, srv := startCannedAPI(t, clientAnswers())
	addr := strings.TrimPrefix(srv.URL, "http://")
	cases := map[string]struct {
		args []string
		want string
	}{
		"members": {[]string{"members"}, "" +
			"ID        ADDRESS         STATUS  RAFT ADDRESS    ROLE    ZONE\n" +
			"n1        127.0.0.1:7946  alive   127.0.0.1:7000  server  a\n" +
			"client-1  127.0.0.1:7947  left    -               client  -\n"},
		"raft peers": {[]string{"raft", "peers"}, "" +
			"ID  ADDRESS         SUFFRAGE  LEADER\n" +
			"n1  127.0.0.1:7000  voter     *\n" +
			"n2  127.0.0.1:7001  nonvoter  \n"},
		"autopilot state": {[]string{"autopilot", "state"}, "" +
			"Healthy:            true\n" +
			"Failure tolerance:  1\n" +
			"Leader:             n1\n" +
			"Voters:             n1, n2, n3\n\n" +
			"ID  ADDRESS         STATUS  HEALTHY  VOTER  LEADER  LAST CONTACT  LAST TERM  LAST INDEX  STABLE SINCE\n" +
			"n1  127.0.0.1:7000  alive   true     true   *       0s            2          40          2024-01-02T03:04:05Z\n"},
		"kv get":  {[]string{"kv", "get", "app/color"}, "blue\n"},
		"kv list": {[]string{"kv", "list", "app/"}, "KEY        MODIFY INDEX  VALUE\napp/color  17            blue\napp/bin    4             <2 bytes>\n"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := newTestCLI(t)
			code, out, errOut := c.run(append(tc.args, "-http-addr", addr)...)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			if out != tc.want {
				t.Errorf("output\n%s\nwant\n%s", out, tc.want)
			}
		})
	}
}

func TestClientJSONOutput(t *testing.T) {
	_, srv := startCannedAPI(t, clientAnswers())
	for args, want := range map[string]string{
		"members":         membersJSON,
		"raft peers":      raftJSON,
		"autopilot state": healthJSON,
	} {
		c := newTestCLI(t)
		c.env["AGENT_HTTP_ADDR"] = srv.URL // a URL works too
		code, out, errOut := c.run(append(strings.Fields(args), "-json")...)
		if code != 0 || out != want+"\n" {
			t.Errorf("agent %s -json: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
		if !json.Valid([]byte(out)) {
			t.Errorf("agent %s -json: not JSON", args)
		}
	}
}

func TestClientWrites(t *testing.T) {
	api, srv := startCannedAPI(t, clientAnswers())
	addr := strings.TrimPrefix(srv.URL, "http://")
	cases := []struct {
		args    []string
		out     string
		request string
	}{
		{[]string{"raft", "remove-peer", "n2"}, "Removed n2 from the Raft configuration.\n", "DELETE /v1/raft/peers/n2?"},
		{[]string{"leave"}, "The agent at " + addr + " is leaving the cluster and will exit.\n", "POST /v1/agent/leave?"},
		{[]string{"kv", "put", "app/color", "blue"}, "Wrote app/color at index 17.\n", "PUT /v1/kv/app/color?  blue"},
		{[]string{"kv", "put", "-cas", "0", "app/color", "blue"}, "Wrote app/color at index 17.\n", "PUT /v1/kv/app/color?cas=0  blue"},
		{[]string{"kv", "delete", "app/color"}, "Deleted app/color at index 18.\n", "DELETE /v1/kv/app/color?"},
		{[]string{"kv", "get", "-stale", "app/color"}, "blue\n", "GET /v1/kv/app/color?stale="},
	}
	for _, tc := range cases {
		c := newTestCLI(t)
		code, out, errOut := c.run(append(tc.args, "-http-addr", addr)...)
		if code != 0 || out != tc.out {
			t.Errorf("agent %s: exit %d, stdout %q, stderr %q", strings.Join(tc.args, " "), code, out, errOut)
		}
		if got := api.last(); got != tc.request {
			t.Errorf("agent %s sent %q, want %q", strings.Join(tc.args, " "), got, tc.request)
		}
	}
}

// TestClientTransferSaysWhoLeads: after the move the command names the
// leader the agent now knows, and without it falls back to the request.
func TestClientTransferSaysWhoLeads(t *testing.T) {
	answers := clientAnswers()
	api, srv := startCannedAPI(t, answers)
	withStatus := clientAnswers()
	withStatus["GET /v1/status"] = cannedAnswer{200, `{"node_id":"n1","state":"follower","leader_id":"n3"}`}
	api2, srv2 := startCannedAPI(t, withStatus)
	cases := []struct {
		url     string
		api     *cannedAPI
		args    []string
		out     string
		request string
	}{
		{srv2.URL, api2, []string{"raft", "transfer-leadership"}, "Leadership transferred; n3 leads now.\n", "POST /v1/raft/transfer-leadership?"},
		{srv2.URL, api2, []string{"raft", "transfer-leadership", "n3"}, "Leadership transferred; n3 leads now.\n", "POST /v1/raft/transfer-leadership?id=n3"},
		{srv.URL, api, []string{"raft", "transfer-leadership"}, "Leadership transferred.\n", "POST /v1/raft/transfer-leadership?"},
		{srv.URL, api, []string{"raft", "transfer-leadership", "n3"}, "Leadership transferred to n3.\n", "POST /v1/raft/transfer-leadership?id=n3"},
	}
	for _, tc := range cases {
		c := newTestCLI(t)
		code, out, errOut := c.run(append(tc.args, "-http-addr", tc.url)...)
		if code != 0 || out != tc.out {
			t.Errorf("agent %s: exit %d, stdout %q, stderr %q", strings.Join(tc.args, " "), code, out, errOut)
		}
		tc.api.mu.Lock()
		reqs := slices.Clone(tc.api.requests)
		tc.api.mu.Unlock()
		if !slices.Contains(reqs, tc.request) {
			t.Errorf("agent %s sent %q, want %q among them", strings.Join(tc.args, " "), reqs, tc.request)
		}
	}
}

// TestClientKVUsageErrors: a negative -cas and an empty key are the
// caller's mistakes: exit 2 with a line saying so, and nothing is sent.
func TestClientKVUsageErrors(t *testing.T) {
	api, srv := startCannedAPI(t, clientAnswers())
	cases := map[string]struct {
		args []string
		want string
	}{
		"negative cas":     {[]string{"kv", "put", "-cas", "-1", "k", "v"}, `invalid value "-1" for flag -cas: want a modify index, 0 or more`},
		"cas not a number": {[]string{"kv", "put", "-cas", "x", "k", "v"}, `invalid value "x" for flag -cas`},
		"get empty key":    {[]string{"kv", "get", ""}, "KEY is empty; 'agent kv list' shows every key"},
		"put empty key":    {[]string{"kv", "put", "", "v"}, "KEY is empty"},
		"delete empty key": {[]string{"kv", "delete", ""}, "KEY is empty"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := newTestCLI(t)
			code, out, errOut := c.run(append(tc.args, "-http-addr", srv.URL)...)
			if code != exitUsage || out != "" || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errOut, exitUsage, tc.want)
			}
			oneLine(t, "stderr", errOut)
		})
	}
	if got := api.last(); got != "" {
		t.Errorf("a usage error sent %q", got)
	}
}

func TestClientKVPutFromStdin(t *testing.T) {
	api, srv := startCannedAPI(t, clientAnswers())
	c := newTestCLI(t)
	c.stdin = strings.NewReader("from stdin")
	if code, _, errOut := c.run("kv", "put", "-http-addr", srv.URL, "app/color", "-"); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if got := api.last(); got != "PUT /v1/kv/app/color?  from stdin" {
		t.Errorf("sent %q", got)
	}
}

func TestClientErrors(t *testing.T) {
	_, srv := startCannedAPI(t, clientAnswers())
	cases := map[string]struct {
		args []string
		want string
	}{
		"json error":   {[]string{"raft", "remove-peer", "ghost"}, "agent: server \"ghost\" is not in the Raft configuration\n"},
		"kv not found": {[]string{"kv", "get", "app/missing"}, "agent: key \"app/missing\" not found\n"},
		"cas failed":   {[]string{"kv", "put", "-cas", "3", "app/cas", "x"}, "agent: compare-and-set failed: app/cas was modified (or exists) since index 3\n"},
	}
	for name, tc := range cases {
		c := newTestCLI(t)
		code, out, errOut := c.run(append(tc.args, "-http-addr", srv.URL)...)
		if code != 1 || out != "" || errOut != tc.want {
			t.Errorf("%s: exit %d, stdout %q, stderr %q, want stderr %q", name, code, out, errOut, tc.want)
		}
	}
}

func TestClientNonJSONError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "bad gateway from a proxy", http.StatusBadGateway)
	}))
	defer srv.Close()
	c := newTestCLI(t)
	code, _, errOut := c.run("members", "-http-addr", srv.URL)
	if code != 1 || errOut != "agent: HTTP 502: bad gateway from a proxy\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestClientConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newTestCLI(t)
	code, _, errOut := c.run("members", "-http-addr", addr)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	oneLine(t, "stderr", errOut)
	if !strings.Contains(errOut, "cannot connect to the agent at "+addr) || !strings.Contains(errOut, "is it running?") {
		t.Errorf("stderr %q gives no hint", errOut)
	}
}

func TestClientToken(t *testing.T) {
	api, srv := startCannedAPI(t, clientAnswers())
	c := newTestCLI(t)
	c.env["AGENT_HTTP_TOKEN"] = "env-token"
	c.env["AGENT_HTTP_ADDR"] = srv.URL
	c.run("members")
	if got := api.last(); got != "GET /v1/members? Bearer env-token" {
		t.Errorf("sent %q, want the env token", got)
	}
	c.run("members", "-token", "flag-token")
	if got := api.last(); got != "GET /v1/members? Bearer flag-token" {
		t.Errorf("sent %q, want the flag token", got)
	}
	if _, out, _ := c.run("members", "-h"); strings.Contains(out, "env-token") {
		t.Errorf("-h prints the token from the environment:\n%s", out)
	}
}

func TestClientHTTPS(t *testing.T) {
	dir := t.TempDir()
	caPEM, caKey, err := tlsutil.GenerateCA(tlsutil.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := tlsutil.GenerateCert(caPEM, caKey, tlsutil.CertOptions{NodeID: "n1", IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(&cannedAPI{answers: clientAnswers()})
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshake below is expected
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "https://")

	c := newTestCLI(t)
	if code, out, errOut := c.run("raft", "peers", "-json", "-http-addr", addr, "-ca-file", caFile); code != 0 || out != raftJSON+"\n" {
		t.Errorf("with -ca-file: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut := c.run("raft", "peers", "-http-addr", srv.URL)
	if code != 1 || !strings.Contains(errOut, "unknown CA; pass its CA with -ca-file") {
		t.Errorf("without -ca-file: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := c.run("members", "-http-addr", addr, "-ca-file", filepath.Join(dir, "nope.pem")); code != 2 || !strings.Contains(errOut, "-ca-file") {
		t.Errorf("missing -ca-file: exit %d, stderr %q", code, errOut)
	}
}
