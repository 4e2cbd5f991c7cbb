package api

import (
	"errors"
	"net/http"
	"testing"
)

func TestKindsOf(t *testing.T) {
	all := []error{ErrNotFound, ErrCASFailed, ErrNoLeader, ErrUnavailable, ErrUnauthorized, ErrForbidden, ErrBadRequest, ErrConflict, ErrTooLarge}
	cases := map[string]struct {
		status int
		msg    string
		want   []error
	}{
		"not found":          {http.StatusNotFound, `key "k" not found`, []error{ErrNotFound}},
		"bad request":        {http.StatusBadRequest, "cas must be a modify index", []error{ErrBadRequest}},
		"no token":           {http.StatusUnauthorized, "missing token", []error{ErrUnauthorized}},
		"wrong token":        {http.StatusForbidden, "invalid token", []error{ErrForbidden}},
		"conflict":           {http.StatusConflict, "snapshot from another cluster", []error{ErrConflict}},
		"too large":          {http.StatusRequestEntityTooLarge, "request body exceeds the 1048576-byte limit", []error{ErrTooLarge}},
		"no leader":          {http.StatusServiceUnavailable, "no cluster leader: none elected within 5s", []error{ErrUnavailable, ErrNoLeader}},
		"leadership moved":   {http.StatusServiceUnavailable, "leadership changed while the request was being forwarded; retry", []error{ErrUnavailable, ErrNoLeader}},
		"not ready":          {http.StatusServiceUnavailable, "not ready: applying", []error{ErrUnavailable}},
		"server failure":     {http.StatusInternalServerError, "boom", nil},
		"method not allowed": {http.StatusMethodNotAllowed, "", nil},
	}
	for name, c := range cases {
		err := error(&StatusError{StatusCode: c.status, Message: c.msg})
		for _, k := range all {
			want := false
			for _, w := range c.want {
				want = want || w == k
			}
			if got := errors.Is(err, k); got != want {
				t.Errorf("%s: errors.Is(%d %q, %v) = %t, want %t", name, c.status, c.msg, k, got, want)
			}
		}
		if err.Error() != c.msg {
			t.Errorf("%s: Error() = %q, want the server's message %q", name, err.Error(), c.msg)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	long := make([]byte, 300)
	for i := range long {
		long[i] = 'x'
	}
	cases := map[string]struct {
		status int
		body   string
		want   string
	}{
		"json":                 {404, `{"error":"key \"k\" not found"}`, `key "k" not found`},
		"text":                 {502, "bad gateway\n", "HTTP 502: bad gateway"},
		"empty":                {503, "", "HTTP 503 Service Unavailable"},
		"long text":            {500, string(long), "HTTP 500: " + string(long[:200]) + "..."},
		"json, no error field": {400, `{"x":1}`, `HTTP 400: {"x":1}`},
	}
	for name, c := range cases {
		if got := errorMessage(c.status, []byte(c.body)); got != c.want {
			t.Errorf("%s: errorMessage = %q, want %q", name, got, c.want)
		}
	}
}

func TestParseAddress(t *testing.T) {
	cases := map[string]struct {
		addr  string
		https bool
		want  string
		bad   bool
	}{
		"default":        {"", false, "http://127.0.0.1:7070", false},
		"host port":      {"10.0.0.1:8500", false, "http://10.0.0.1:8500", false},
		"host port tls":  {"10.0.0.1:8500", true, "https://10.0.0.1:8500", false},
		"url keeps http": {"http://h:1/some/path?q", true, "http://h:1", false},
		"https url":      {"https://h:1", false, "https://h:1", false},
		"other scheme":   {"ftp://h:1", false, "", true},
		"no host":        {"http://", false, "", true},
	}
	for name, c := range cases {
		u, err := ParseAddress(c.addr, c.https)
		if c.bad {
			if err == nil {
				t.Errorf("%s: ParseAddress(%q) = %v, want an error", name, c.addr, u)
			}
			continue
		}
		if err != nil || u.String() != c.want {
			t.Errorf("%s: ParseAddress(%q, %t) = %v, %v; want %s", name, c.addr, c.https, u, err, c.want)
		}
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"", "127.0.0.1:7070", "https://h:1", "ftp://x", "http://", "[::1]:80", "%zz"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, addr string, https bool) {
		u, err := ParseAddress(addr, https)
		if err != nil {
			return
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" {
			t.Fatalf("ParseAddress(%q) = %q: want a bare http(s)://HOST base", addr, u)
		}
	})
}

func TestReadMeta(t *testing.T) {
	h := http.Header{}
	h.Set(HeaderIndex, "42")
	h.Set(HeaderKnownLeader, "true")
	h.Set(HeaderLastContact, "1500")
	h.Set(HeaderStale, "true")
	if m := readMeta(h); m.Index != 42 || !m.KnownLeader || m.LastContact.Milliseconds() != 1500 || !m.Stale {
		t.Errorf("readMeta = %+v", m)
	}
	h.Set(HeaderLastContact, "-1")
	if m := readMeta(h); m.LastContact >= 0 {
		t.Errorf("never-contacted leader: LastContact = %s, want negative", m.LastContact)
	}
	if m := readMeta(nil); m != (ReadMeta{}) {
		t.Errorf("readMeta(nil) = %+v, want zero", m)
	}
}
