package main

import (
	"encoding/json"
	"strings"
	"testing"
)

const (
	keyA = "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=" // 32 bytes
	keyB = "AAAAAAAAAAAAAAAAAAAAAA=="                     // 16 bytes

	keyringListJSON = `{"op":"list","num_nodes":3,"keys":[` +
		`{"key":"` + keyA + `","fingerprint":"0a1b2c3d","members":3,"primary_on":["n1","n2","n3"]},` +
		`{"fingerprint":"9f8e7d6c","members":1,"primary_on":[]}],"nodes":[` +
		`{"id":"n1","ok":true,"encrypted":true,"primary":"0a1b2c3d","keys":["0a1b2c3d","9f8e7d6c"]},` +
		`{"id":"n2","ok":true,"encrypted":true,"primary":"0a1b2c3d","keys":["0a1b2c3d"]},` +
		`{"id":"n3","ok":true,"encrypted":false}]}`
)

func keyringAnswers() map[string]cannedAnswer {
	changed := func(op string) cannedAnswer {
		return cannedAnswer{200, `{"op":"` + op + `","fingerprint":"0a1b2c3d","num_nodes":3,"keys":[],"nodes":[]}`}
	}
	return map[string]cannedAnswer{
		"GET /v1/agent/keyring":          {200, keyringListJSON},
		"POST /v1/agent/keyring/install": changed("install"),
		"POST /v1/agent/keyring/use":     changed("use"),
		"POST /v1/agent/keyring/remove":  {409, `{"error":"discovery: cannot remove the primary key: key 0a1b2c3d is the primary on n1, n2, n3; make another key primary with use first (nothing was changed)"}`},
	}
}

func TestKeyringList(t *testing.T) {
	_, srv := startCannedAPI(t, keyringAnswers())
	c := newTestCLI(t)
	code, out, errOut := c.run("keyring", "list", "-http-addr", srv.URL)
	want := "" +
		"KEY                                           FINGERPRINT  MEMBERS  PRIMARY ON\n" +
		keyA + "  0a1b2c3d     3/3      3/3\n" +
		"-                                             9f8e7d6c     1/3      0/3\n" +
		"\nWithout encryption: n3\n"
	if code != 0 || out != want {
		t.Fatalf("exit %d, stdout\n%s\nwant\n%s\nstderr %q", code, out, want, errOut)
	}
	code, out, _ = c.run("keyring", "list", "-json", "-http-addr", srv.URL)
	if code != 0 || out != keyringListJSON+"\n" || !json.Valid([]byte(out)) {
		t.Fatalf("-json: exit %d, %q", code, out)
	}
}

func TestKeyringChanges(t *testing.T) {
	api, srv := startCannedAPI(t, keyringAnswers())
	cases := []struct {
		args  []string
		stdin string
		out   string
		sent  string
	}{
		{[]string{"install", keyA}, "", "Installed key 0a1b2c3d on all 3 members.\n", `POST /v1/agent/keyring/install?  {"key":"` + keyA + `"}`},
		{[]string{"use", "-", "-token", "tok"}, keyB + "\n", "Key 0a1b2c3d is now the primary on all 3 members.\n", `POST /v1/agent/keyring/use? Bearer tok {"key":"` + keyB + `"}`},
	}
	for _, tc := range cases {
		c := newTestCLI(t)
		c.stdin = strings.NewReader(tc.stdin)
		code, out, errOut := c.run(append(append([]string{"keyring"}, tc.args...), "-http-addr", srv.URL)...)
		if code != 0 || out != tc.out {
			t.Errorf("keyring %v: exit %d, stdout %q, stderr %q", tc.args, code, out, errOut)
		}
		if got := api.last(); got != tc.sent {
			t.Errorf("keyring %v sent %q, want %q", tc.args, got, tc.sent)
		}
	}
}

func TestKeyringErrors(t *testing.T) {
	api, srv := startCannedAPI(t, keyringAnswers())
	cases := map[string]struct {
		args   []string
		stdin  string
		code   int
		stderr string
	}{
		"remove primary": {[]string{"remove", keyA}, "", exitFail, "agent: discovery: cannot remove the primary key: key 0a1b2c3d is the primary on n1, n2, n3; make another key primary with use first (nothing was changed)\n"},
		"no key":         {[]string{"install"}, "", exitUsage, "agent keyring install: expected exactly one argument, the base64 key (or - for stdin), got 0 argument(s); see 'agent keyring install -h'\n"},
		"two keys":       {[]string{"use", keyA, keyB}, "", exitUsage, "got 2 argument(s)"},
		"bad base64":     {[]string{"install", "not*base64"}, "", exitUsage, "agent keyring install: KEY: not valid base64; see"},
		"short key":      {[]string{"install", "c2hvcnQga2V5"}, "", exitUsage, "KEY: key is 9 bytes; it must be 16, 24 or 32 bytes"},
		"empty stdin":    {[]string{"install", "-"}, "", exitUsage, "the key is empty"},
		"bad flag":       {[]string{"list", "-nope"}, "", exitUsage, "flag provided but not defined: -nope"},
		"unknown sub":    {[]string{"rotate"}, "", exitUsage, `unknown command "rotate"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := newTestCLI(t)
			c.stdin = strings.NewReader(tc.stdin)
			before := api.count()
			code, out, errOut := c.run(append(append([]string{"keyring"}, tc.args...), "-http-addr", srv.URL)...)
			if code != tc.code || !strings.Contains(errOut, tc.stderr) || out != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and stderr containing %q", code, out, errOut, tc.code, tc.stderr)
			}
			oneLine(t, "stderr", errOut)
			for _, k := range []string{keyA, keyB, "not*base64", "c2hvcnQga2V5"} {
				if strings.Contains(errOut, k) {
					t.Errorf("stderr repeats the key: %q", errOut)
				}
			}
			if tc.code == exitUsage && api.count() != before {
				t.Error("a usage error still sent a request")
			}
		})
	}
}

func TestKeyringHelp(t *testing.T) {
	for _, sub := range []string{"list", "install", "use", "remove"} {
		c := newTestCLI(t)
		code, out, _ := c.run("keyring", sub, "-h")
		if code != 0 || !strings.Contains(out, "Usage: agent keyring "+sub) || !strings.Contains(out, "-http-addr") {
			t.Errorf("keyring %s -h: exit %d, %q", sub, code, out)
		}
	}
	c := newTestCLI(t)
	if code, out, _ := c.run("keyring", "-h"); code != 0 || !strings.Contains(out, "install") || !strings.Contains(out, "remove") {
		t.Errorf("keyring -h: exit %d, %q", code, out)
	}
}

func (a *cannedAPI) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.requests)
}
