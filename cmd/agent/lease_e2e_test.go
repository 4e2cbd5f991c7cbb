package main

import (
	agentapi "github.com/clusteragent/agent/api"

	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

// TestLeaseCommandsAgainstARealAgent drives kv put -ttl, -lease and every
// lease subcommand against a real dev agent.
func TestLeaseCommandsAgainstARealAgent(t *testing.T) {
	addr, _, _, _, _ := startDevAgent(t)
	waitLeader(t, addr)
	run := func(args ...string) (int, string, string) {
		c := newTestCLI(t)
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
	start := time.Now()
	mustOK(run("kv", "put", "-ttl", "1s", "tmp/k", "v"))
	testutil.WaitFor(t, 30*time.Second, func() error {
		if code, _, _ := run("kv", "get", "tmp/k"); code != 1 {
			return fmt.Errorf("tmp/k still there (exit %d)", code)
		}
		return nil
	})
	if took := time.Since(start); took < time.Second {
		t.Fatalf("a 1s key was gone after %s", took)
	}
	id := strings.TrimSpace(mustOK(run("lease", "grant", "30s")))
	mustOK(run("kv", "put", "-lease", id, "svc/x", "1"))
	var d agentapi.LeaseDetail
	out := mustOK(run("lease", "show", "-json", id))
	if err := json.Unmarshal([]byte(out), &d); err != nil || d.ID != id || d.TTL != "30s" || len(d.Keys) != 1 || d.Keys[0] != "svc/x" {
		t.Fatalf("show -json = %q (%v)", out, err)
	}
	if out := mustOK(run("lease", "show", id)); !strings.Contains(out, "Remaining:") || !strings.Contains(out, "svc/x") {
		t.Fatalf("show = %q", out)
	}
	mustOK(run("lease", "renew", id))
	mustOK(run("lease", "revoke", id))
	if code, _, _ := run("kv", "get", "svc/x"); code != 1 {
		t.Fatalf("svc/x after revoke: exit %d", code)
	}
	if code, _, errOut := run("lease", "renew", id); code != 1 || !strings.Contains(errOut, "lease") {
		t.Fatalf("renew after revoke: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run("kv", "put", "-lease", "424242", "k", "v"); code != 1 || !strings.Contains(errOut, "lease not found") {
		t.Fatalf("put with an unknown lease: exit %d, %q", code, errOut)
	}
	for _, args := range [][]string{{"lease", "grant"}, {"lease", "grant", "soon"}, {"lease", "show"}, {"kv", "put", "-ttl", "1s", "-lease", "1", "k", "v"}} {
		if code, _, errOut := run(args...); code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}
