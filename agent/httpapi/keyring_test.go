package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// fakeKeyring records keyring calls and answers with resp and err.
type fakeKeyring struct {
	calls []string // "op key"
	resp  KeyringResponse
	err   error
}

func (f *fakeBackend) Keyring(_ context.Context, op, key string) (KeyringResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keyring == nil {
		f.keyring = &fakeKeyring{}
	}
	f.keyring.calls = append(f.keyring.calls, strings.TrimSpace(op+" "+key))
	if f.keyring.err != nil {
		return KeyringResponse{}, f.keyring.err
	}
	resp := f.keyring.resp
	resp.Op = op
	return resp, nil
}

func (f *fakeBackend) keyringCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keyring == nil {
		return nil
	}
	return append([]string(nil), f.keyring.calls...)
}

func (f *fakeBackend) setKeyring(resp KeyringResponse, err error) {
	f.set(func(f *fakeBackend) { f.keyring = &fakeKeyring{resp: resp, err: err} })
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const testGossipKey = "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=" // 32 bytes

func keyBody(key string) *strings.Reader {
	b, _ := json.Marshal(KeyringRequest{Key: key})
	return strings.NewReader(string(b))
}

func TestKeyringList(t *testing.T) {
	b := newLeaderBackend()
	b.setKeyring(KeyringResponse{NumNodes: 2,
		Keys: []KeyringKey{{Key: testGossipKey, Fingerprint: "0a1b2c3d", Members: 2, PrimaryOn: []string{"n1", "n2"}}},
		Nodes: []KeyringNode{{ID: "n1", OK: true, Encrypted: true, Primary: "0a1b2c3d", Keys: []string{"0a1b2c3d"}},
			{ID: "n2", OK: true, Encrypted: true, Primary: "0a1b2c3d", Keys: []string{"0a1b2c3d"}}}}, nil)
	srv := startServer(t, b, Config{})
	var got KeyringResponse
	call(t, srv, "GET", "/v1/agent/keyring", nil, nil).decode(t, &got)
	if got.Op != KeyringList || got.NumNodes != 2 || len(got.Keys) != 1 || got.Keys[0].Members != 2 || len(got.Nodes) != 2 {
		t.Fatalf("list answer %+v", got)
	}
	if calls := b.keyringCalls(); len(calls) != 1 || calls[0] != "list" {
		t.Fatalf("backend calls %v", calls)
	}

	// Empty answers are [] in JSON, never null.
	b.setKeyring(KeyringResponse{}, nil)
	r := call(t, srv, "GET", "/v1/agent/keyring", nil, nil)
	if !strings.Contains(string(r.body), `"keys":[]`) || !strings.Contains(string(r.body), `"nodes":[]`) {
		t.Fatalf("empty list body %s", r.body)
	}
}

func TestKeyringChanges(t *testing.T) {
	b := newLeaderBackend()
	b.setKeyring(KeyringResponse{Fingerprint: "0a1b2c3d", NumNodes: 3}, nil)
	srv := startServer(t, b, Config{})
	for _, op := range []string{KeyringInstall, KeyringUse, KeyringRemove} {
		var got KeyringResponse
		call(t, srv, "POST", "/v1/agent/keyring/"+op, nil, keyBody(testGossipKey)).decode(t, &got)
		if got.Op != op || got.Fingerprint != "0a1b2c3d" {
			t.Errorf("%s answered %+v", op, got)
		}
	}
	want := []string{"install " + testGossipKey, "use " + testGossipKey, "remove " + testGossipKey}
	if got := b.keyringCalls(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("backend calls %v, want %v", got, want)
	}
	if r := call(t, srv, "GET", "/v1/agent/keyring/install", nil, nil); r.code != http.StatusMethodNotAllowed {
		t.Errorf("GET install: %d", r.code)
	}
	if r := call(t, srv, "POST", "/v1/agent/keyring/rotate", nil, keyBody(testGossipKey)); r.code != http.StatusNotFound {
		t.Errorf("unknown op: %d", r.code)
	}
}

func TestKeyringBadRequests(t *testing.T) {
	b := newLeaderBackend()
	logs := &syncBuffer{}
	srv := startServer(t, b, Config{Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace})})
	short := "c2hvcnQga2V5" // "short key": 9 bytes
	cases := map[string]struct {
		body string
		want string
	}{
		"empty":          {"", "empty body"},
		"not json":       {`{"key": "` + testGossipKey, "not valid JSON"},
		"not an object":  {`"` + testGossipKey + `"`, `the body is not {"key":"BASE64"}`},
		"unknown field":  {`{"key":"` + testGossipKey + `","primary":true}`, `fields other than "key"`},
		"two values":     {`{"key":"` + testGossipKey + `"} {}`, "more than one JSON value"},
		"missing key":    {`{}`, `missing "key"`},
		"bad base64":     {`{"key":"not*base64"}`, "not valid base64"},
		"wrong length":   {`{"key":"` + short + `"}`, "is 9 bytes; a gossip key is 16, 24 or 32 bytes"},
		"key not string": {`{"key":42}`, `the body is not {"key":"BASE64"}`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := call(t, srv, "POST", "/v1/agent/keyring/install", nil, strings.NewReader(tc.body))
			if r.code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400 (body %s)", r.code, r.body)
			}
			msg := r.errMsg(t)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want it to mention %q", msg, tc.want)
			}
			if strings.Contains(msg, testGossipKey) || strings.Contains(msg, short) {
				t.Errorf("error %q quotes the key", msg)
			}
		})
	}
	if calls := b.keyringCalls(); len(calls) != 0 {
		t.Errorf("the backend was called for bad requests: %d calls", len(calls))
	}
	if strings.Contains(logs.String(), testGossipKey) {
		t.Error("a key was logged")
	}
}

func TestKeyringBackendErrors(t *testing.T) {
	b := newLeaderBackend()
	logs := &syncBuffer{}
	srv := startServer(t, b, Config{Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace})})
	// The answer's status names the kind, so its text does not repeat it.
	cases := map[string]struct {
		err  error
		code int
		msg  string
	}{
		"primary":     {fmt.Errorf("%w: key 0a1b2c3d is the primary on n1", ErrConflict), http.StatusConflict, "key 0a1b2c3d is the primary on n1"},
		"bad key":     {fmt.Errorf("%w: invalid gossip key", ErrBadRequest), http.StatusBadRequest, "invalid gossip key"},
		"some failed": {fmt.Errorf("%w: 1 of 3: n3: no answer before the deadline", ErrUnavailable), http.StatusServiceUnavailable, "1 of 3: n3: no answer before the deadline"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b.setKeyring(KeyringResponse{}, tc.err)
			r := call(t, srv, "POST", "/v1/agent/keyring/remove", nil, keyBody(testGossipKey))
			if r.code != tc.code || r.errMsg(t) != tc.msg {
				t.Fatalf("status %d %q, want %d %q", r.code, r.body, tc.code, tc.msg)
			}
		})
	}
	if strings.Contains(logs.String(), testGossipKey) {
		t.Error("a key was logged")
	}
}

func TestKeyringNeedsToken(t *testing.T) {
	b := newLeaderBackend()
	srv := startServer(t, b, Config{Token: "secret"})
	if r := call(t, srv, "GET", "/v1/agent/keyring", nil, nil); r.code != http.StatusUnauthorized {
		t.Errorf("list without token: %d", r.code)
	}
	if r := call(t, srv, "POST", "/v1/agent/keyring/install", map[string]string{"Authorization": "Bearer wrong"}, keyBody(testGossipKey)); r.code != http.StatusForbidden {
		t.Errorf("install with a wrong token: %d", r.code)
	}
	if calls := b.keyringCalls(); len(calls) != 0 {
		t.Errorf("backend called without a valid token: %v", calls)
	}
}

func FuzzReadKeyringKey(f *testing.F) {
	f.Add(`{"key":"` + testGossipKey + `"}`)
	f.Add(`{"key":""}`)
	f.Add(`{"key":"AAAA"} x`)
	f.Fuzz(func(t *testing.T, body string) {
		key, err := readKeyringKey(strings.NewReader(body))
		if err != nil {
			return
		}
		if checkGossipKey(key) != nil {
			t.Fatalf("accepted an invalid key")
		}
	})
}
