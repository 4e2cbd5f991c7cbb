package agent

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

// journalFSM is the binary's state machine until the key/value store lands:
// it folds every applied command into a running SHA-256 and counts them, so
// replicas can be compared (same count and hash means same history).
// Deterministic: no clock, no randomness, no I/O in Apply.
type journalFSM struct {
	mu    sync.Mutex
	count uint64
	hash  [32]byte
}

// journalState is the snapshot encoding and the comparison value.
type journalState struct {
	Count uint64 `json:"count"`
	Hash  []byte `json:"hash"`
}

func (f *journalFSM) Apply(l *raft.Log) interface{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := sha256.New()
	h.Write(f.hash[:])
	var idx [8]byte
	binary.BigEndian.PutUint64(idx[:], l.Index)
	h.Write(idx[:])
	h.Write(l.Data)
	copy(f.hash[:], h.Sum(nil))
	f.count++
	return f.count
}

func (f *journalFSM) state() journalState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return journalState{Count: f.count, Hash: append([]byte(nil), f.hash[:]...)}
}

func (f *journalFSM) Snapshot() (raft.FSMSnapshot, error) {
	return journalSnapshot(f.state()), nil
}

func (f *journalFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var st journalState
	if err := json.NewDecoder(rc).Decode(&st); err != nil {
		return fmt.Errorf("restore journal snapshot: %w", err)
	}
	if len(st.Hash) != 32 {
		return fmt.Errorf("restore journal snapshot: hash is %d bytes", len(st.Hash))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count = st.Count
	copy(f.hash[:], st.Hash)
	return nil
}

type journalSnapshot journalState

func (s journalSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(journalState(s)); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s journalSnapshot) Release() {}
