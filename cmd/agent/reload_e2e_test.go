package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
	"github.com/clusteragent/agent/tlsutil"
)

// TestReloadCommandAndSIGHUPAgainstATLSAgent runs a real agent from a config
// file with mutual TLS, an HTTPS API that requires client certificates and
// a server-name allow-list, then reloads it through `agent reload` and
// SIGHUP, with good and broken files.
func TestReloadCommandAndSIGHUPAgainstATLSAgent(t *testing.T) {
	ca := testutil.NewTestCA(t)
	caFile, certFile, keyFile := ca.NodeFiles(t, "dev")
	_, opCert, opKey := ca.NodeFiles(t, "operator")
	conf := filepath.Join(t.TempDir(), "agent.hcl")
	hcl := fmt.Sprintf(`
tls {
  enable       = true
  ca_file      = %q
  cert_file    = %q
  key_file     = %q
  server_names = ["dev", "*.servers.example"]
}
http {
  tls           = true
  verify_client = true
}
`, caFile, certFile, keyFile)
	if err := os.WriteFile(conf, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, _, sigCh, exit, logs := startDevAgent(t, "-config", conf)
	withCert := []string{"-http-addr", addr, "-ca-file", caFile, "-client-cert", opCert, "-client-key", opKey}
	run := func(args ...string) (int, string, string) { return newTestCLI(t).run(args...) }
	testutil.WaitFor(t, 20*time.Second, func() error {
		if code, out, errOut := run(append([]string{"members"}, withCert...)...); code != 0 {
			return fmt.Errorf("members over HTTPS: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		return nil
	})

	code, out, errOut := run(append([]string{"reload"}, withCert...)...)
	if code != 0 || !strings.Contains(out, "reloaded") {
		t.Fatalf("reload: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// http.verify_client: no client certificate, no API.
	code, _, errOut = run("reload", "-http-addr", addr, "-ca-file", caFile)
	if code != 1 || !strings.Contains(errOut, "-client-cert") {
		t.Fatalf("reload without a client certificate: exit %d, stderr %q; want 1 and a hint to pass -client-cert", code, errOut)
	}

	// A key that does not belong to the certificate: the reload fails and
	// says which file, the agent keeps serving the old pair.
	goodKey, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := os.ReadFile(opKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlsutil.WriteFileAtomic(keyFile, otherKey, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = run(append([]string{"reload"}, withCert...)...)
	if code != 1 || !strings.Contains(errOut, keyFile) {
		t.Fatalf("reload with a mismatched key: exit %d, stderr %q; want 1 naming %s", code, errOut, keyFile)
	}
	oneLine(t, "reload error", errOut)
	if code, _, errOut := run(append([]string{"members"}, withCert...)...); code != 0 {
		t.Fatalf("the API stopped working after a failed reload: %s", errOut)
	}
	sigCh <- syscall.SIGHUP
	waitLog(t, logs, "SIGHUP: reload failed", keyFile)

	if err := tlsutil.WriteFileAtomic(keyFile, goodKey, 0o600); err != nil {
		t.Fatal(err)
	}
	sigCh <- syscall.SIGHUP
	waitLog(t, logs, "SIGHUP: reloaded the tls certificate")

	stopDevAgent(t, sigCh, exit, logs)
}

// waitLog waits for a log line containing every part.
func waitLog(t *testing.T, logs *syncBuffer, parts ...string) {
	t.Helper()
	testutil.WaitFor(t, 10*time.Second, func() error {
		for _, line := range strings.Split(logs.String(), "\n") {
			if containsAll(line, parts) {
				return nil
			}
		}
		return fmt.Errorf("no log line with %q yet:\n%s", parts, logs)
	})
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
