package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKVCommandsAgainstARealAgent drives every kv subcommand against a real
// dev agent: put (literal, @file, stdin, compare-and-set), get (table, -json,
// -stale), list, delete, and the exit codes scripts rely on.
func TestKVCommandsAgainstARealAgent(t *testing.T) {
	addr, _, sigCh, exit, logs := startDevAgent(t)
	waitLeader(t, addr)
	// run inserts -http-addr after "kv SUB": flags must precede arguments.
	run := func(stdin string, args ...string) (int, string, string) {
		c := newTestCLI(t)
		c.stdin = strings.NewReader(stdin)
		full := append([]string{args[0], args[1], "-http-addr", addr}, args[2:]...)
		return c.run(full...)
	}
	mustOK := func(code int, out, errOut string) string {
		t.Helper()
		if code != 0 {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		return out
	}
	mustOK(run("", "kv", "put", "app/color", "blue"))
	file := filepath.Join(t.TempDir(), "conf.json")
	if err := os.WriteFile(file, []byte(`{"a":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	mustOK(run("", "kv", "put", "app/conf", "@"+file))
	mustOK(run("from stdin", "kv", "put", "app/in", "-"))

	if out := mustOK(run("", "kv", "get", "app/color")); strings.TrimSpace(out) != "blue" {
		t.Errorf("get app/color = %q", out)
	}
	if out := mustOK(run("", "kv", "get", "-stale", "app/conf")); strings.TrimSpace(out) != `{"a":1}` {
		t.Errorf("get app/conf = %q", out)
	}
	var e struct {
		Key         string `json:"key"`
		Value       []byte `json:"value"`
		ModifyIndex uint64 `json:"modify_index"`
	}
	out := mustOK(run("", "kv", "get", "-json", "app/in"))
	if err := json.Unmarshal([]byte(out), &e); err != nil || string(e.Value) != "from stdin" {
		t.Errorf("get -json app/in = %q (%v)", out, err)
	}
	if out := mustOK(run("", "kv", "list", "app/")); !strings.Contains(out, "app/color") || !strings.Contains(out, "app/conf") || !strings.Contains(out, "app/in") {
		t.Errorf("list app/ = %q", out)
	}
	// Compare-and-set: the wrong index fails with exit 1, the right one works.
	if code, _, errOut := run("", "kv", "put", "-cas", "0", "app/in", "x"); code != 1 || !strings.Contains(errOut, "compare-and-set") {
		t.Errorf("cas 0 on a present key: exit %d, stderr %q", code, errOut)
	}
	mustOK(run("", "kv", "put", "-cas", itoa(e.ModifyIndex), "app/in", "y"))
	mustOK(run("", "kv", "delete", "app/color"))
	if code, _, errOut := run("", "kv", "get", "app/color"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("get after delete: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := run("", "kv", "put", "a/../b", "x"); code != 1 || errOut == "" {
		t.Errorf("bad key: exit %d, stderr %q", code, errOut)
	}

	stopDevAgent(t, sigCh, exit, logs)
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
