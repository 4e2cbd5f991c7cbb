package httpapi

import (
	"net/http"
	"strings"
	"testing"
)

func TestLeaseBadInput(t *testing.T) {
	srv := startServer(t, &fakeBackend{leader: true}, Config{})
	tests := map[string]struct {
		method, path, body, msg string
	}{
		"not JSON":         {"POST", "/v1/lease", "10s", `the body must be {"ttl": "DURATION"}`},
		"bad ttl":          {"POST", "/v1/lease", `{"ttl":"soon"}`, `ttl must be a duration such as "10s", got "soon"`},
		"missing ttl":      {"POST", "/v1/lease", `{}`, `ttl must be a duration`},
		"bad id renew":     {"PUT", "/v1/lease/abc/renew", "", `the lease ID in the path must be a lease ID`},
		"zero id show":     {"GET", "/v1/lease/0", "", `must be a lease ID (a positive integer), got "0"`},
		"bad id revoke":    {"DELETE", "/v1/lease/-1", "", `must be a lease ID`},
		"bad lease on put": {"PUT", "/v1/kv/k?lease=x", "v", `lease must be a lease ID`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res := call(t, srv, tc.method, tc.path, nil, strings.NewReader(tc.body))
			if res.code != http.StatusBadRequest || !strings.Contains(res.errMsg(t), tc.msg) {
				t.Fatalf("%d %s, want 400 containing %q", res.code, res.body, tc.msg)
			}
		})
	}
	res := call(t, srv, "PUT", "/v1/lease/7/renew", nil, nil)
	if res.code != http.StatusNotFound {
		t.Fatalf("renew of an unknown lease: %d %s", res.code, res.body)
	}
}
