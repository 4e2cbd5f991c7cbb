package deploy

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clusteragent/agent/internal/buildagent"
)

// unitDirectives reads a systemd unit into section -> key -> values (a key
// may repeat), ignoring comments and blank lines.
func unitDirectives(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a directive: %q", path, n, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSystemdUnitPromises checks the directives deploy/systemd/README.md
// describes, so an edit cannot drop one unnoticed.
func TestSystemdUnitPromises(t *testing.T) {
	svc := unitDirectives(t, filepath.Join("systemd", "agent.service"))["Service"]
	want := map[string]string{
		"Type":                  "notify",
		"NotifyAccess":          "main",
		"ExecStart":             "/usr/local/bin/agent run -config /etc/agent/agent.hcl -data-dir /var/lib/agent",
		"ExecReload":            "/bin/kill -HUP $MAINPID",
		"User":                  "agent",
		"StateDirectory":        "agent",
		"ProtectSystem":         "strict",
		"ProtectHome":           "yes",
		"PrivateTmp":            "yes",
		"NoNewPrivileges":       "yes",
		"CapabilityBoundingSet": "",
		"KillSignal":            "SIGTERM",
	}
	for k, v := range want {
		if got := svc[k]; len(got) != 1 || got[0] != v {
			t.Errorf("[Service] %s = %q, want exactly %q", k, got, v)
		}
	}
	if got := svc["DynamicUser"]; len(got) != 0 {
		t.Errorf("DynamicUser = %q: the unit uses the sysusers user agent (README)", got)
	}
	users, err := os.ReadFile(filepath.Join("systemd", "agent.sysusers"))
	if err != nil || !strings.Contains(string(users), "\nu agent ") {
		t.Errorf("agent.sysusers does not create the user agent (%v):\n%s", err, users)
	}
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the unit, with
// ExecStart pointing at a freshly built agent (verify checks that the
// binary exists). verify exits 0 after ignoring an unknown key or a bad
// value, so any output is a failure.
func TestSystemdUnitVerifies(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skipf("systemd-analyze not installed (Debian: apt-get install systemd): %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "agent")
	ctx, cancel := context.WithTimeout(t.Context(), goBuildTimeout)
	defer cancel()
	root, err := buildagent.ModuleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := buildagent.Binary(ctx, root, bin, ""); err != nil {
		t.Fatalf("building the agent: %v", err)
	}
	unit, err := os.ReadFile(filepath.Join("systemd", "agent.service"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/agent", bin)
	path := filepath.Join(dir, "agent.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), tool, "verify", path)
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify agent.service: %v\n%s", err, out)
	}
}
