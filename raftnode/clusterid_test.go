package raftnode

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/clusteragent/agent/internal/testutil"
	"github.com/clusteragent/agent/raftnode/command"
	"github.com/clusteragent/agent/raftnode/raftnodetest"
)

func TestClusterIDIsReplicatedFirstWriteWins(t *testing.T) {
	nodes := startCluster(t, []string{"a", "b", "c"}, nil)
	leader := waitLeader(t, nodes...)
	got, err := leader.InitClusterID(ctxT(t), "first")
	if err != nil || got != "first" {
		t.Fatalf("InitClusterID(first) = %q, %v", got, err)
	}
	// A second proposal (as from a later leader) cannot change it.
	if got, err := leader.InitClusterID(ctxT(t), "second"); err != nil || got != "first" {
		t.Fatalf("InitClusterID(second) = %q, %v; want first", got, err)
	}
	res, err := leader.Propose(ctxT(t), append(append([]byte(nil), clusterIDPrefix...), "third"...))
	if err != nil || res.Response != "first" {
		t.Fatalf("raw proposal: %v, %v; want first", res.Response, err)
	}
	testutil.WaitFor(t, waitTimeout, func() error {
		for _, n := range nodes {
			if id := n.ClusterID(); id != "first" {
				return fmt.Errorf("%s has cluster ID %q", n.NodeID(), id)
			}
		}
		return nil
	})
	// The user's FSM never saw the cluster-ID entries.
	for _, n := range nodes {
		if n.fsm.Len() != 0 {
			t.Errorf("%s's FSM applied %d entries, want 0", n.NodeID(), n.fsm.Len())
		}
	}
	if _, err := nodes[0].InitClusterID(ctxT(t), ""); err == nil {
		t.Error("empty cluster ID accepted")
	}
}

func TestClusterIDSurvivesSnapshotRestore(t *testing.T) {
	fsm := newMetaFSM(raftnodetest.NewFSM())
	fsm.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: append(append([]byte(nil), clusterIDPrefix...), "cid"...)})
	fsm.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: []byte("user-entry")})
	snap, err := fsm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	restored := newMetaFSM(raftnodetest.NewFSM())
	if err := restored.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if restored.id() != "cid" || restored.user.(*raftnodetest.FSM).Len() != 1 {
		t.Fatalf("restored ID %q with %d user entries", restored.id(), restored.user.(*raftnodetest.FSM).Len())
	}

	// A snapshot written without the header (by the user's FSM alone)
	// restores unchanged, with no cluster ID.
	plainSnap, _ := raftnodetest.NewFSM().Snapshot()
	plain := &memSink{}
	if err := plainSnap.Persist(plain); err != nil {
		t.Fatal(err)
	}
	legacy := newMetaFSM(raftnodetest.NewFSM())
	if err := legacy.Restore(io.NopCloser(bytes.NewReader(plain.Bytes()))); err != nil || legacy.id() != "" {
		t.Fatalf("legacy restore: id %q, %v", legacy.id(), err)
	}

	// A corrupt header is refused.
	bad := append(append([]byte(nil), snapshotMagic...), 0xff, 0xff, 0xff, 0x0f)
	if err := newMetaFSM(raftnodetest.NewFSM()).Restore(io.NopCloser(bytes.NewReader(bad))); err == nil {
		t.Error("corrupt header accepted")
	}
}

// memSink is an in-memory raft.SnapshotSink.
type memSink struct{ bytes.Buffer }

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { return nil }
func (s *memSink) Close() error  { return nil }

// recordingFSM records what reaches it, through Apply or ApplyBatch.
type recordingFSM struct {
	applied []uint64 // indexes, in order
	batches int
}

func (f *recordingFSM) Apply(l *raft.Log) any {
	f.applied = append(f.applied, l.Index)
	return l.Index
}
func (f *recordingFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, nil }
func (f *recordingFSM) Restore(io.ReadCloser) error         { return nil }

type batchingRecorder struct{ recordingFSM }

func (f *batchingRecorder) ApplyBatch(logs []*raft.Log) []any {
	f.batches++
	out := make([]any, len(logs))
	for i, l := range logs {
		out[i] = f.Apply(l)
	}
	return out
}

// TestMetaFSMApplyBatch: cluster-ID entries are taken out of a batch, a
// batching user FSM gets the runs around them whole, and a plain one gets
// only commands, one by one, as raft itself would hand them over.
func TestMetaFSMApplyBatch(t *testing.T) {
	t.Parallel()
	idEntry := func(index uint64, id string) *raft.Log {
		return &raft.Log{Index: index, Type: raft.LogCommand, Data: append(append([]byte(nil), clusterIDPrefix...), id...)}
	}
	cmd := func(index uint64) *raft.Log {
		return &raft.Log{Index: index, Type: raft.LogCommand, Data: []byte{command.BinaryMagic, 1, 'x'}}
	}
	batch := []*raft.Log{
		cmd(1),
		{Index: 2, Type: raft.LogConfiguration},
		idEntry(3, "c1"),
		cmd(4),
		idEntry(5, "c2"),
		cmd(6),
	}
	want := []any{uint64(1), nil, "c1", uint64(4), "c1", uint64(6)}

	plain := &recordingFSM{}
	m := newMetaFSM(plain)
	got := m.ApplyBatch(batch)
	if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(plain.applied) != "[1 4 6]" || m.id() != "c1" {
		t.Fatalf("plain FSM: responses %v (want %v), applied %v, cluster ID %q", got, want, plain.applied, m.id())
	}

	batching := &batchingRecorder{}
	m = newMetaFSM(batching)
	got = m.ApplyBatch(batch)
	want[1] = uint64(2) // a batching FSM is handed configuration entries, as raft does
	if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(batching.applied) != "[1 2 4 6]" || batching.batches != 3 {
		t.Fatalf("batching FSM: responses %v (want %v), applied %v in %d batches (want 3)", got, want, batching.applied, batching.batches)
	}
}
