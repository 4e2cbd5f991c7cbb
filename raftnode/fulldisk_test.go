package raftnode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft-wal/types"

	"github.com/clusteragent/agent/internal/testutil"
)

// diskFullVFS wraps raft-wal's file layer and, while full is set, fails
// every segment create, write and sync with ENOSPC, as a full disk does.
// Reads keep working: a full disk still serves what it holds.
type diskFullVFS struct {
	types.VFS
	full atomic.Bool
	// noCreate fails segment creates alone: a disk with room for the
	// current segment's writes but not for a new preallocated segment.
	noCreate atomic.Bool
	faults   atomic.Int64 // operations failed so far
}

// enospc records a fault and returns the error the OS would.
func (v *diskFullVFS) enospc(op, path string) error {
	v.faults.Add(1)
	return &os.PathError{Op: op, Path: path, Err: syscall.ENOSPC}
}

func (v *diskFullVFS) Create(dir, name string, size uint64) (types.WritableFile, error) {
	if v.full.Load() || v.noCreate.Load() {
		return nil, v.enospc("create", filepath.Join(dir, name))
	}
	f, err := v.VFS.Create(dir, name, size)
	if err != nil {
		return nil, err
	}
	return &diskFullFile{WritableFile: f, vfs: v, path: filepath.Join(dir, name)}, nil
}

func (v *diskFullVFS) OpenWriter(dir, name string) (types.WritableFile, error) {
	f, err := v.VFS.OpenWriter(dir, name)
	if err != nil {
		return nil, err
	}
	return &diskFullFile{WritableFile: f, vfs: v, path: filepath.Join(dir, name)}, nil
}

// diskFullFile is a segment file whose writes and syncs obey its VFS's
// switch.
type diskFullFile struct {
	types.WritableFile
	vfs  *diskFullVFS
	path string
}

func (f *diskFullFile) WriteAt(p []byte, off int64) (int, error) {
	if f.vfs.full.Load() {
		return 0, f.vfs.enospc("write", f.path)
	}
	return f.WritableFile.WriteAt(p, off)
}

func (f *diskFullFile) Sync() error {
	if f.vfs.full.Load() {
		return f.vfs.enospc("sync", f.path)
	}
	return f.WritableFile.Sync()
}

// ackLog records the commands a test saw acknowledged.
type ackLog []string

// missing returns the acknowledged commands n's FSM lacks, or nil.
func (a ackLog) missing(n *testNode) []string {
	have := make(map[string]bool)
	for _, e := range n.fsm.Entries() {
		have[string(e.Data)] = true
	}
	var out []string
	for _, c := range a {
		if !have[c] {
			out = append(out, c)
		}
	}
	return out
}

// TestLeaderDiskFullFailsWritesAndRecovers fills the leader's disk (every
// segment write, sync and create fails with ENOSPC) in a 3-node WAL
// cluster. What raft v1.8 does, and what this asserts: the leader's failed
// StoreLogs fails the waiting writes with the store error and the leader
// steps down to follower at once (raft.go dispatchLogs); the two healthy
// nodes elect a leader and keep committing, while the full node rejects
// every AppendEntries it cannot store. No acknowledged write is lost, raft
// never panics (a panic would kill this test binary), and once space is
// back the full node appends again and catches up to the same state.
func TestLeaderDiskFullFailsWritesAndRecovers(t *testing.T) {
	vfs := map[string]*diskFullVFS{}
	nodes := startCluster(t, []string{"a", "b", "c"}, func(o *Options) {
		o.LogStore = LogStoreWAL // the fault sits in raft-wal's file layer
		v := &diskFullVFS{}
		vfs[o.NodeID] = v
		o.wrapVFS = func(inner types.VFS) types.VFS { v.VFS = inner; return v }
	})
	leader := waitLeader(t, nodes...)
	var acked ackLog
	acked = append(acked, applyAcked(t, nodes, "before", 50)...)

	full := leader
	vfs[full.NodeID()].full.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	start := time.Now()
	_, err := full.ApplyBytes(ctx, []byte("while-full-0"))
	cancel()
	took := time.Since(start)
	t.Logf("write on the full leader %s: %v after %s", full.NodeID(), err, took)
	if err == nil || !strings.Contains(err.Error(), syscall.ENOSPC.Error()) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write on a full disk: err %v after %s; want the store's ENOSPC error, promptly", err, took)
	}
	testutil.WaitFor(t, waitTimeout, func() error {
		if st := full.Status(); st.State == "leader" {
			return fmt.Errorf("%s still leads (term %d) after a failed log write", full.NodeID(), st.Term)
		}
		return nil
	})

	// The healthy majority elects a leader and keeps accepting writes.
	healthy := others(nodes, full)
	newLeader := waitLeader(t, healthy...)
	acked = append(acked, applyAcked(t, healthy, "during", 20)...)
	t.Logf("%s stepped down; %s was elected and the healthy pair committed 20 writes while %s's disk was full (%d ENOSPC faults injected)",
		full.NodeID(), newLeader.NodeID(), full.NodeID(), vfs[full.NodeID()].faults.Load())
	if got := full.fsm.Len(); got > 50 {
		t.Fatalf("the full node applied %d commands; it cannot have stored more than 50", got)
	}

	vfs[full.NodeID()].full.Store(false)
	acked = append(acked, applyAcked(t, nodes, "after", 10)...)
	leader = waitLeader(t, nodes...)
	waitSameFSM(t, len(acked), nodes...)
	for _, n := range nodes {
		if m := acked.missing(n); len(m) > 0 {
			t.Fatalf("%s lacks %d acknowledged writes, first %q", n.NodeID(), len(m), m[0])
		}
	}
	t.Logf("after the disk recovered: %d acknowledged writes on all 3 nodes, leader %s", len(acked), leader.NodeID())
}

// applyAcked commits n commands "prefix-i" through whichever of nodes
// leads, retrying a command across leader changes within the wait budget,
// and returns those acknowledged. A retried command may commit twice;
// every check here is "present", never "exactly once".
func applyAcked(t *testing.T, nodes []*testNode, prefix string, n int) ackLog {
	t.Helper()
	var out ackLog
	for i := 0; i < n; i++ {
		cmd := fmt.Sprintf("%s-%d", prefix, i)
		testutil.WaitFor(t, catchUpTimeout, func() error {
			for _, node := range nodes {
				if node.Status().State != "leader" {
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_, err := node.ApplyBytes(ctx, []byte(cmd))
				if err != nil {
					return fmt.Errorf("apply %s on %s: %w", cmd, node.NodeID(), err)
				}
				return nil
			}
			return fmt.Errorf("apply %s: no leader among %d nodes", cmd, len(nodes))
		})
		out = append(out, cmd)
	}
	return out
}

// TestSingleNodeDiskFullRecovers fills the disk of a single-node cluster:
// there is no other node to take over, so every write must fail promptly
// (the store's ENOSPC or, while raft re-elects itself, no leader) and
// nothing may be acknowledged; once space is back the same process must
// serve writes again with every earlier acknowledged write in place. It
// shows raft-wal rolls its writer back after a failed append, so the WAL
// stays usable without a restart.
func TestSingleNodeDiskFullRecovers(t *testing.T) {
	t.Parallel()
	v := &diskFullVFS{}
	o := baseOptions(t, "solo")
	o.LogStore, o.BootstrapPreferred = LogStoreWAL, true
	o.wrapVFS = func(inner types.VFS) types.VFS { v.VFS = inner; return v }
	n := startNode(t, o)
	waitLeader(t, n)
	acked := applyAcked(t, []*testNode{n}, "before", 20)

	v.full.Store(true)
	var errs []string
	for i := 0; i < 5; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := n.ApplyBytes(ctx, []byte(fmt.Sprintf("while-full-%d", i)))
		cancel()
		if err == nil {
			t.Fatalf("write %d acknowledged on a full disk", i)
		}
		errs = append(errs, err.Error())
	}
	t.Logf("writes on a full disk: %q", errs)
	if !strings.Contains(errs[0], syscall.ENOSPC.Error()) {
		t.Fatalf("first write on a full disk: %s; want the store's ENOSPC error", errs[0])
	}

	v.full.Store(false)
	testutil.WaitFor(t, waitTimeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := n.ApplyBytes(ctx, []byte("after-0"))
		return err
	})
	acked = append(acked, "after-0")
	if m := acked.missing(n); len(m) > 0 {
		t.Fatalf("lacks %d acknowledged writes, first %q", len(m), m[0])
	}
}
