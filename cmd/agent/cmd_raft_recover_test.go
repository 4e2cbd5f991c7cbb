package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/clusteragent/agent/internal/testutil"
)

func TestRaftRecoverUsageErrors(t *testing.T) {
	c := newTestCLI(t)
	cases := map[string][]string{
		"no data dir":      {"raft", "recover"},
		"malformed peer":   {"raft", "recover", "-data-dir", t.TempDir(), "-peer", "node1"},
		"peer twice":       {"raft", "recover", "-data-dir", t.TempDir(), "-peer", "a=h:1", "-peer", "a=h:2"},
		"extra argument":   {"raft", "recover", "-data-dir", t.TempDir(), "now"},
		"unknown flag":     {"raft", "recover", "-data-dir", t.TempDir(), "-force"},
		"empty peer value": {"raft", "recover", "-data-dir", t.TempDir(), "-peer", "a="},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := c.run(args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr %q", code, errOut)
			}
			oneLine(t, "stderr", errOut)
		})
	}
}

// TestRaftRecoverRefusals checks each refusal of `agent raft recover` on
// real data dirs: no Raft state (a server that never had any, as when its
// peers never formed a cluster), a running agent's dir, a peer list without
// this server or with a malformed address, and no -yes without a terminal.
// Then it recovers a stopped single server to itself.
func TestRaftRecoverRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("starts agent processes")
	}
	cl := newTestCLI(t)
	code, _, errOut := cl.run("raft", "recover", "-data-dir", t.TempDir(), "-yes")
	if code != 1 || !strings.Contains(errOut, "nothing to recover") {
		t.Errorf("empty dir: exit %d, stderr %q", code, errOut)
	}

	c := newProcCluster(t, "refuse", 2)
	one, never := c.nodes[0], c.nodes[1]
	c.start(one, nil, "-bootstrap-expect", "1")
	// never waits to be added by a leader that does not exist: it has a
	// data dir and a log store, but no Raft state.
	c.start(never, []string{"127.0.0.1:1"}, "-no-bootstrap")
	c.leaderOf([]*procNode{one}, dayTwoTimeout)
	testutil.WaitFor(t, dayTwoTimeout, func() error { _, err := getStatus(never.http()); return err })
	dir := filepath.Join(one.dir, "data")

	code, _, errOut = cl.run("raft", "recover", "-data-dir", dir, "-yes")
	if code != 1 || !strings.Contains(errOut, "in use") {
		t.Errorf("running agent: exit %d, stderr %q", code, errOut)
	}
	c.stop(one)
	c.stop(never)
	code, _, errOut = cl.run("raft", "recover", "-data-dir", filepath.Join(never.dir, "data"), "-yes")
	if code != 1 || !strings.Contains(errOut, "nothing to recover") {
		t.Errorf("server that never had state: exit %d, stderr %q", code, errOut)
	}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"without this server": {[]string{"-peer", "other=127.0.0.1:7000", "-yes"}, "does not contain this server"},
		"bad address":         {[]string{"-peer", one.id + "=nohost", "-yes"}, "not HOST:PORT"},
		"no -yes, no tty":     {nil, "pass -yes"},
	} {
		code, _, errOut = cl.run(append([]string{"raft", "recover", "-data-dir", dir}, tc.args...)...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", name, code, errOut, tc.want)
		}
	}
	code, out, errOut := cl.run("raft", "recover", "-data-dir", dir, "-yes")
	if code != 0 || strings.Count(out, one.raftAddr()) != 2 {
		t.Fatalf("recover alone: exit %d\n%s\n%s", code, out, errOut)
	}
	c.start(one, nil)
	c.leaderOf([]*procNode{one}, dayTwoTimeout)
}
