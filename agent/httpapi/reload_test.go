package httpapi

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestReload(t *testing.T) {
	b := newLeaderBackend()
	srv := startServer(t, b, Config{Token: "tok"})
	auth := map[string]string{"Authorization": "Bearer tok"}

	var ok OK
	call(t, srv, "POST", "/v1/agent/reload", auth, nil).decode(t, &ok)
	b.mu.Lock()
	reloads := b.reloads
	b.mu.Unlock()
	if !ok.OK || reloads != 1 {
		t.Fatalf("reload answered %+v, backend reloaded %d times; want ok and 1", ok, reloads)
	}
	if r := call(t, srv, "POST", "/v1/agent/reload", nil, nil); r.code != 401 {
		t.Fatalf("reload without the token = %d, want 401", r.code)
	}
	if r := call(t, srv, "GET", "/v1/agent/reload", auth, nil); r.code != 405 || r.header.Get("Allow") != "POST" {
		t.Fatalf("GET reload = %d (Allow %q), want 405 POST", r.code, r.header.Get("Allow"))
	}
}

func TestReloadErrors(t *testing.T) {
	cases := map[string]struct {
		err  error
		code int
	}{
		"tls off":       {fmt.Errorf("%w: tls is not enabled", ErrBadRequest), 400},
		"broken file":   {errors.New("cert_file /etc/agent/n1.pem: no PEM data of the expected kind"), 500},
		"not forwarded": {ErrNotLeader, 503}, // each agent reloads its own files
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b := &fakeBackend{err: tc.err, leaderAddr: "127.0.0.1:1"}
			srv := startServer(t, b, Config{})
			r := call(t, srv, "POST", "/v1/agent/reload", nil, nil)
			if r.code != tc.code {
				t.Fatalf("reload with %v = %d, want %d (body %s)", tc.err, r.code, tc.code, r.body)
			}
			if msg := r.errMsg(t); !strings.Contains(tc.err.Error(), msg) || msg == "" {
				t.Fatalf("error %q does not carry %q", msg, tc.err)
			}
		})
	}
}
