package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

// TestMigrateStoreCommandOffline covers the answers that need no store
// opened: nothing to migrate (exit 1), already on the target (exit 0).
func TestMigrateStoreCommandOffline(t *testing.T) {
	c := newTestCLI(t)
	empty := t.TempDir()
	code, out, errOut := c.run("raft", "migrate-store", "-data-dir", empty, "-to", "wal")
	if code != 1 || out != "" || !strings.Contains(errOut, "holds neither raft.db nor wal/") {
		t.Errorf("empty data dir: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	oneLine(t, "stderr", errOut)

	onWAL := t.TempDir()
	if err := os.Mkdir(filepath.Join(onWAL, "wal"), 0o700); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = c.run("raft", "migrate-store", "-data-dir", onWAL, "-to", "wal")
	if code != 0 || !strings.Contains(out, "already uses the wal log store; nothing to do") || errOut != "" {
		t.Errorf("already on wal: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestProcessMigrateStore runs an agent of the built binary on BoltDB,
// writes keys, is refused while it runs, stops it, migrates its data dir to
// the WAL and starts it again: every key must be there, on the WAL.
func TestProcessMigrateStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts agent processes")
	}
	ports := testutil.FreePorts(t, 3)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	httpAddr := "127.0.0.1:" + strconv.Itoa(ports[2])
	args := []string{"-bind", "127.0.0.1", "-gossip-port", strconv.Itoa(ports[0]),
		"-raft-port", strconv.Itoa(ports[1]), "-http-addr", httpAddr, "-bootstrap-preferred"}

	first := startProcIn(t, "mig", dataDir, filepath.Join(dir, "first.log"), append(args, "-raft-log-store", "boltdb")...)
	waitStatus(t, first, httpAddr, "boltdb")
	const keys = 25
	for i := 0; i < keys; i++ {
		if code, _, errOut := runBinary(t, "kv", "put", "-http-addr", httpAddr, fmt.Sprintf("mig/k%d", i), fmt.Sprintf("v%d", i)); code != 0 {
			t.Fatalf("kv put %d: exit %d: %s", i, code, errOut)
		}
	}

	code, out, errOut := runBinary(t, "raft", "migrate-store", "-data-dir", dataDir, "-to", "wal")
	if code != 1 || !strings.Contains(errOut, "is in use") {
		t.Fatalf("migrate-store on a running agent's dir: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	oneLine(t, "stderr", errOut)
	t.Logf("refused while running: %s", errOut)
	if err := first.stop(15 * time.Second); err != nil {
		t.Fatalf("stop: %v\n%s", err, first.tail())
	}

	code, out, errOut = runBinary(t, "raft", "migrate-store", "-data-dir", dataDir, "-to", "wal")
	if code != 0 || errOut != "" {
		t.Fatalf("migrate-store: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	t.Logf("migrate-store:\n%s", out)
	for _, want := range []string{"Migrated " + dataDir + " from boltdb to wal", "log entries, index ",
		filepath.Join(dataDir, "raft.db.backup"), "removes it after its next successful start"} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate-store output lacks %q:\n%s", want, out)
		}
	}

	second := startProcIn(t, "mig", dataDir, filepath.Join(dir, "second.log"), args...)
	waitStatus(t, second, httpAddr, "wal")
	for i := 0; i < keys; i++ {
		code, out, errOut := runBinary(t, "kv", "get", "-http-addr", httpAddr, fmt.Sprintf("mig/k%d", i))
		if code != 0 || strings.TrimSpace(out) != fmt.Sprintf("v%d", i) {
			t.Errorf("kv get mig/k%d after migration: exit %d, stdout %q, stderr %q", i, code, out, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "raft.db.backup")); !os.IsNotExist(err) {
		t.Errorf("raft.db.backup still there after a successful start (%v)", err)
	}
	if err := second.stop(15 * time.Second); err != nil {
		t.Errorf("stop after migration: %v\n%s", err, second.tail())
	}
}

// waitStatus polls /v1/status until p leads and reports logStore.
func waitStatus(t *testing.T, p *agentProc, httpAddr, logStore string) {
	t.Helper()
	testutil.WaitFor(t, 30*time.Second, func() error {
		select {
		case <-p.done:
			t.Fatalf("agent exited: %v\n%s", p.exitErr(), p.tail())
		default:
		}
		st, err := getStatus(httpAddr)
		if err != nil {
			return err
		}
		if st.State != "leader" || st.LogStore != logStore {
			return fmt.Errorf("/v1/status: state %q, log_store %q; want leader on %s", st.State, st.LogStore, logStore)
		}
		return nil
	})
}
