package raftnode

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestSnapshotIntoAnotherCluster: a snapshot opened on one cluster and
// restored into another (three servers, other addresses) reaches every
// server there, keeps the target's cluster ID, and the target goes on
// committing after it (on raft-wal, whose log cannot hold the gap a
// restore leaves unless raft drops the log).
func TestSnapshotIntoAnotherCluster(t *testing.T) {
	a := startCluster(t, []string{"a1"}, nil)
	aLeader := waitLeader(t, a...)
	if _, err := aLeader.InitClusterID(ctxT(t), "cluster-a"); err != nil {
		t.Fatal(err)
	}
	applyN(t, aLeader, "a", 20)
	ss, err := aLeader.OpenSnapshot(ctxT(t), false)
	if err != nil {
		t.Fatal(err)
	}
	state, err := io.ReadAll(ss.Body)
	ss.Body.Close()
	if err != nil || int64(len(state)) != ss.Size || ss.ClusterID != "cluster-a" || ss.Index == 0 {
		t.Fatalf("snapshot: %d bytes (size %d), cluster %q, index %d, err %v", len(state), ss.Size, ss.ClusterID, ss.Index, err)
	}

	b := startCluster(t, []string{"b1", "b2", "b3"}, nil)
	bLeader := waitLeader(t, b...)
	if _, err := bLeader.InitClusterID(ctxT(t), "cluster-b"); err != nil {
		t.Fatal(err)
	}
	applyN(t, bLeader, "b", 5)
	waitApplied(t, 5, b...)
	follower := others(b, bLeader)[0]
	if _, err := follower.OpenSnapshot(ctxT(t), false); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("consistent snapshot on a follower: %v, want ErrNotLeader", err)
	}
	if err := follower.RestoreSnapshot(ctxT(t), ss.Index, ss.Term, ss.Size, bytes.NewReader(state)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("restore on a follower: %v, want ErrNotLeader", err)
	}
	if stale, err := follower.OpenSnapshot(ctxT(t), true); err != nil {
		t.Fatalf("stale snapshot on a follower: %v", err)
	} else {
		stale.Body.Close()
	}

	if err := bLeader.RestoreSnapshot(ctxT(t), ss.Index, ss.Term, ss.Size, bytes.NewReader(state)); err != nil {
		t.Fatalf("RestoreSnapshot: %v", err)
	}
	waitApplied(t, 20, b...)
	for _, n := range b {
		if id := n.ClusterID(); id != "cluster-b" {
			t.Fatalf("%s: cluster ID %q after the restore, want the target's own", n.NodeID(), id)
		}
	}
	applyN(t, bLeader, "after", 1)
	waitApplied(t, 21, b...)
}
