package agent

import (
	"bytes"
	"io"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/clusteragent/agent/raftnode/command"
)

// readMarkerType is the mutation a follower's linearizable Read commits
// through the leader. The agent's wrapper consumes it: the embedder's state
// machine never sees it.
const readMarkerType = "agent.read-marker"

// readMarker is the encoded marker entry, computed once.
var readMarker = func() []byte {
	b, err := command.Mutation{Type: readMarkerType}.Encode()
	if err != nil {
		panic(err) // a constant, valid type: cannot happen
	}
	return b
}()

func isReadMarker(l *raft.Log) bool {
	return l.Type == raft.LogCommand && bytes.Equal(l.Data, readMarker)
}

// indexFSM wraps an embedder's state machine (WithFSM) to record the index
// of the last entry it has finished applying. Raft's own applied index
// moves when an entry is handed to the state machine, not when it is
// applied, so a follower's Read waits on this one instead.
type indexFSM struct {
	user    raft.FSM
	applied atomic.Uint64
}

// wrapUserFSM returns the wrapper, batching when the user's FSM batches so
// group commit still reaches it.
func wrapUserFSM(user raft.FSM) (raft.FSM, *indexFSM) {
	w := &indexFSM{user: user}
	if b, ok := user.(raft.BatchingFSM); ok {
		return &batchIndexFSM{indexFSM: w, batch: b}, w
	}
	return w, w
}

// Apply hands every entry but the read marker on, then records its index.
func (f *indexFSM) Apply(l *raft.Log) interface{} {
	var resp interface{}
	if !isReadMarker(l) {
		resp = f.user.Apply(l)
	}
	f.applied.Store(l.Index)
	return resp
}

// Snapshot is the user's snapshot: the marker leaves no state.
func (f *indexFSM) Snapshot() (raft.FSMSnapshot, error) { return f.user.Snapshot() }

// Restore is the user's restore. The restored index is not known here;
// Read learns it from raft's last snapshot index (see Agent.fsmReached).
func (f *indexFSM) Restore(rc io.ReadCloser) error { return f.user.Restore(rc) }

// batchIndexFSM is indexFSM for a user FSM that implements
// raft.BatchingFSM.
type batchIndexFSM struct {
	*indexFSM
	batch raft.BatchingFSM
}

// ApplyBatch hands the batch without read markers to the user's FSM and
// puts its answers back in place.
func (f *batchIndexFSM) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	if len(logs) == 0 {
		return out
	}
	pass := make([]*raft.Log, 0, len(logs))
	at := make([]int, 0, len(logs))
	for i, l := range logs {
		if !isReadMarker(l) {
			pass = append(pass, l)
			at = append(at, i)
		}
	}
	if len(pass) > 0 {
		resp := f.batch.ApplyBatch(pass)
		for j, i := range at {
			if j < len(resp) {
				out[i] = resp[j]
			}
		}
	}
	f.applied.Store(logs[len(logs)-1].Index)
	return out
}
