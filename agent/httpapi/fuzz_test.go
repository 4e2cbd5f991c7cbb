package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzServeHTTP throws arbitrary requests at the server: it must never
// panic, and every error answer must be a JSON {"error": "..."}.
func FuzzServeHTTP(f *testing.F) {
	seeds := []struct {
		method, path, query, body string
		leader                    bool
		fail                      uint8
	}{
		{"GET", "/v1/status", "", "", true, 0},
		{"DELETE", "/v1/raft/peers/n1", "", "", false, 0},
		{"POST", "/v1/raft/transfer-leadership", "id=n2", "", true, 3},
		{"POST", "/v1/agent/leave", "", "{}", true, 5},
		{"PATCH", "/v1/members", "x=%zz", "body", true, 0},
		{"GET", "/v1//raft/../status", "", "", true, 0},
		{"CONNECT", "/v1/status", "", "", true, 0},
		{"GET", "/v1/autopilot/health", "", "", false, 1},
		{"GET", "/v1/health/ready", "", "", true, 2},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, s.body, s.leader, s.fail)
	}
	errs := []error{nil, ErrNotLeader, ErrNoLeader, ErrNotFound, ErrBadRequest, ErrConflict, errors.New("boom")}
	f.Fuzz(func(t *testing.T, method, path, query, body string, leader bool, fail uint8) {
		b := newLeaderBackend()
		b.leader = leader
		b.leaderAddr = "" // forwarding has nowhere to go: 503, never a network call
		b.err = errs[int(fail)%len(errs)]
		b.readyErr = b.err
		s := New(b, Config{Token: tokenFor(fail), MaxBodyBytes: 64})
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(method, "http://127.0.0.1"+path, strings.NewReader(body))
		if err != nil {
			t.Skip() // not a request a server could receive
		}
		req.URL.RawQuery = query
		if fail%2 == 0 {
			req.Header.Set("Authorization", "Bearer "+tokenFor(fail))
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code < 400 {
			return
		}
		var e ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Fatalf("%s %s?%s -> %d with body %q: not a JSON error", method, path, query, rec.Code, rec.Body.String())
		}
	})
}

func tokenFor(fail uint8) string {
	if fail%3 == 0 {
		return ""
	}
	return "tok"
}
