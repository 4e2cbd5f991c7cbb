package raftnode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

// mountTmpfs mounts a tmpfs of size bytes on a fresh temp dir and unmounts
// it (by its own path) when the test ends, after every node has closed. It
// skips the test where mounting is not permitted.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a real full disk needs a size-capped tmpfs, and mounting one needs root")
	}
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("mount -t tmpfs is not permitted here: %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// freeBytes is the space left for an unprivileged writer on path's file
// system.
func freeBytes(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// TestRealFullDiskFailsWritesAndRecovers runs a single WAL node on a 4 MiB
// tmpfs, fills the file system with a filler file until 64 KiB are left,
// and writes 4 KiB commands until one fails. A full disk must fail writes
// promptly and lose nothing acknowledged; once the filler is deleted the
// node must serve writes again in place, with no restart (healingWAL
// reopens the WAL raft-wal left sealed), and every acknowledged write must
// be in its log, also after a restart.
func TestRealFullDiskFailsWritesAndRecovers(t *testing.T) {
	mnt := mountTmpfs(t, 4<<20)
	o := baseOptions(t, "full")
	o.DataDir = filepath.Join(mnt, "data")
	o.LogStore, o.BootstrapPreferred = LogStoreWAL, true
	o.Peers = map[string]string{"full": o.Listener.Addr().String()}
	n := startNode(t, o)
	waitLeader(t, n)
	acked := applyAcked(t, []*testNode{n}, "before", 10)

	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, freeBytes(t, mnt)-64<<10), 0o600); err != nil {
		t.Fatalf("filler: %v", err)
	}
	payload := strings.Repeat("p", 4<<10)
	var failure error
	var took time.Duration
	for i := 0; i < 1000 && failure == nil; i++ { // 1000 x 4 KiB is far beyond 64 KiB
		cmd := fmt.Sprintf("fill-%d", i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		_, err := n.ApplyBytes(ctx, []byte(cmd+"-"+payload))
		took = time.Since(start)
		cancel()
		if err != nil {
			failure = err
			break
		}
		acked = append(acked, cmd+"-"+payload)
	}
	t.Logf("after %d acknowledged writes with %d bytes free, the write failed after %s: %v",
		len(acked), freeBytes(t, mnt), took, failure)
	if failure == nil {
		t.Fatal("1000 writes of 4 KiB succeeded on a full 4 MiB file system")
	}
	// A write that hits the full disk itself fails with ENOSPC. But raft-wal
	// v0.4.1 seals a full segment and creates the next one in the
	// background; when that create fails it only logs "rotate error" and
	// every later append fails with ErrSealed ("segment is sealed") until
	// the WAL is reopened, which healingWAL does once there is room.
	if msg := failure.Error(); !strings.Contains(msg, syscall.ENOSPC.Error()) && !strings.Contains(msg, "segment is sealed") {
		t.Errorf("the failed write says %q; want %q or raft-wal's %q", msg, syscall.ENOSPC.Error(), "segment is sealed")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	recoverAfterFullDisk(t, n, acked)
}

// recoverAfterFullDisk requires n to write again in place, within a
// bounded time, now that space is back; then it restarts n on its data dir
// and checks that every acknowledged write survived both.
func recoverAfterFullDisk(t *testing.T, n *testNode, acked ackLog) {
	t.Helper()
	start := time.Now()
	inPlace := testutil.Poll(waitTimeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := n.ApplyBytes(ctx, []byte("after-in-place"))
		return err
	})
	if inPlace != nil {
		t.Fatalf("no write in place within %s of freeing space; last: %v", waitTimeout, inPlace)
	}
	t.Logf("the node wrote again in place %s after space was back", time.Since(start).Round(time.Millisecond))
	acked = append(acked, "after-in-place")
	if m := acked.missing(n); len(m) > 0 {
		t.Fatalf("in place, %s lacks %d acknowledged writes, first %.20q", n.NodeID(), len(m), m[0])
	}
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	r := restartNode(t, n)
	waitLeader(t, r)
	acked = append(acked, applyAcked(t, []*testNode{r}, "after-restart", 5)...)
	testutil.WaitFor(t, waitTimeout, func() error {
		if m := acked.missing(r); len(m) > 0 {
			return fmt.Errorf("after restart %s lacks %d acknowledged writes, first %.20q", r.NodeID(), len(m), m[0])
		}
		return nil
	})
	t.Logf("after restart: all %d acknowledged writes present", len(acked))
}
