package main

import (
	"encoding/base64"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/clusteragent/agent/internal/buildagent"
)

// TestMain removes the binary built for the tests below.
func TestMain(m *testing.M) {
	code := m.Run()
	_ = buildagent.Cleanup()
	os.Exit(code)
}

// agentBinary builds the agent once per test process, with the version set
// through -ldflags as a release build would.
func agentBinary(t *testing.T) string {
	t.Helper()
	return buildagent.For(t, buildagent.Options{Version: "9.8.7-test"})
}

func runBinary(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(agentBinary(t), args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Env = append(os.Environ(), "AGENT_HTTP_ADDR=", "AGENT_HTTP_TOKEN=")
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errOut.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out.String(), errOut.String()
}

func TestBinaryVersion(t *testing.T) {
	code, out, _ := runBinary(t, "version")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"agent 9.8.7-test\n", "go " + runtime.Version() + "\n",
		"github.com/hashicorp/raft ", "github.com/hashicorp/memberlist ", "github.com/hashicorp/raft-autopilot ",
		"github.com/hashicorp/raft-boltdb/v2 "} {
		if !strings.Contains(out, want) {
			t.Errorf("version output does not contain %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "unknown") {
		t.Errorf("a library version is unknown:\n%s", out)
	}
	if code, out2, _ := runBinary(t, "--version"); code != 0 || out2 != out {
		t.Errorf("--version: exit %d, output %q", code, out2)
	}
}

func TestBinaryKeygen(t *testing.T) {
	code, out, _ := runBinary(t, "keygen")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
	if err != nil || len(key) != 32 {
		t.Errorf("keygen printed %q: %d bytes, %v", out, len(key), err)
	}
	_, again, _ := runBinary(t, "keygen")
	if again == out {
		t.Error("two keygen runs printed the same key")
	}
}

func TestBinaryUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"run", "-no-such-flag"}, {"members", "--bogus"}, {"frobnicate"}} {
		code, out, errOut := runBinary(t, args...)
		if code != 2 || out != "" {
			t.Errorf("agent %s: exit %d, stdout %q; want 2 and nothing", strings.Join(args, " "), code, out)
		}
		oneLine(t, "agent "+strings.Join(args, " "), errOut)
	}
	if code, out, _ := runBinary(t, "run", "-h"); code != 0 || !strings.Contains(out, "-bootstrap-expect") {
		t.Errorf("agent run -h: exit %d", code)
	}
}
