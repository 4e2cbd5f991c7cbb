// Package raftnodetest provides a small recording state machine for tests of
// raftnode and of code built on it. It imports no project package, so any
// test may use it.
package raftnodetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

// Entry is one applied command.
type Entry struct {
	Index uint64 `json:"index"`
	Data  []byte `json:"data"`
}

// ErrRejected is the FSM response for a command whose data is "reject": it
// lets tests see how an FSM-level error travels back to the caller.
var ErrRejected = errors.New("raftnodetest: command rejected")

// FSM records every applied command in order, and snapshots and restores
// that record. Apply can be paused with Block to test callers' deadlines.
// Its response to a command is the command's index, or ErrRejected.
type FSM struct {
	mu      sync.Mutex
	entries []Entry
	gate    chan struct{} // non-nil while blocked; Apply waits for it to close
}

// NewFSM returns an empty FSM.
func NewFSM() *FSM { return &FSM{} }

// Apply implements raft.FSM.
func (f *FSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, Entry{Index: l.Index, Data: append([]byte(nil), l.Data...)})
	if string(l.Data) == "reject" {
		return ErrRejected
	}
	return l.Index
}

// Block makes subsequent Apply calls wait until Unblock.
func (f *FSM) Block() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gate == nil {
		f.gate = make(chan struct{})
	}
}

// Unblock releases Apply calls waiting since Block.
func (f *FSM) Unblock() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gate != nil {
		close(f.gate)
		f.gate = nil
	}
}

// Entries returns a copy of the applied commands.
func (f *FSM) Entries() []Entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Entry(nil), f.entries...)
}

// Has reports whether a command with data has been applied.
func (f *FSM) Has(data []byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.entries {
		if bytes.Equal(e.Data, data) {
			return true
		}
	}
	return false
}

// Len returns the number of applied commands.
func (f *FSM) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.entries)
}

// LastIndex returns the index of the last applied command, or 0.
func (f *FSM) LastIndex() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.entries) == 0 {
		return 0
	}
	return f.entries[len(f.entries)-1].Index
}

// Snapshot implements raft.FSM.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &snapshot{entries: f.Entries()}, nil
}

// Restore implements raft.FSM.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var entries []Entry
	if err := json.NewDecoder(rc).Decode(&entries); err != nil {
		return fmt.Errorf("raftnodetest: restore: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = entries
	return nil
}

type snapshot struct{ entries []Entry }

// Persist implements raft.FSMSnapshot.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(s.entries); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *snapshot) Release() {}
