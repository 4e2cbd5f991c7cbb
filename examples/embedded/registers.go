package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/clusteragent/agent/raftnode/command"
)

// Mutation types. They are written into the Raft log, so they are part of
// the on-disk format: never rename one; add a new type instead.
const (
	mutSet = "register.set"
	mutCAS = "register.cas"
)

var (
	// errInvalid is returned for a register without a name, before
	// proposing and again by the state machine, which must reject a bad
	// entry the same way on every node.
	errInvalid = errors.New("invalid register command")
	// errCASFailed is the state machine's answer to a compare-and-set whose
	// expected value does not match: committed, but refused.
	errCASFailed = errors.New("compare-and-set failed")
)

// setCmd sets register Name to Value.
type setCmd struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// casCmd sets register Name to Value if it holds Old now ("" for unset).
type casCmd struct {
	Name  string `json:"name"`
	Old   string `json:"old"`
	Value string `json:"value"`
}

// registers is the application's state machine: named string registers.
// Raft calls Apply, Snapshot and Restore from one goroutine; Get from any,
// hence the lock. Handlers must be deterministic: every node applies the
// same entries and must reach the same state.
type registers struct {
	router *command.Router

	mu   sync.RWMutex
	vals map[string]string
}

func newRegisters() *registers {
	r := &registers{router: command.NewRouter(), vals: map[string]string{}}
	r.router.Handle(mutSet, r.applySet)
	r.router.Handle(mutCAS, r.applyCAS)
	return r
}

// Apply implements raft.FSM. A returned error value refuses the entry: it
// stays committed, and agent.Agent.Apply reports it wrapped in
// raftnode.ErrFSM on whichever node proposed it.
func (r *registers) Apply(l *raft.Log) any { return r.router.Apply(l) }

func (r *registers) applySet(_ uint64, payload json.RawMessage) any {
	var c setCmd
	if err := json.Unmarshal(payload, &c); err != nil || c.Name == "" {
		return fmt.Errorf("%w: set needs a name (payload %s)", errInvalid, payload)
	}
	r.mu.Lock()
	r.vals[c.Name] = c.Value
	r.mu.Unlock()
	return nil
}

func (r *registers) applyCAS(_ uint64, payload json.RawMessage) any {
	var c casCmd
	if err := json.Unmarshal(payload, &c); err != nil || c.Name == "" {
		return fmt.Errorf("%w: cas needs a name (payload %s)", errInvalid, payload)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.vals[c.Name] != c.Old {
		return fmt.Errorf("%w: %q holds %q, not %q", errCASFailed, c.Name, r.vals[c.Name], c.Old)
	}
	r.vals[c.Name] = c.Value
	return nil
}

// Get returns register name as this node has applied it.
func (r *registers) Get(name string) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	v, ok := r.vals[name]
	return v, ok
}

// Snapshot implements raft.FSM: it copies the state now; raft writes it
// out later on another goroutine.
func (r *registers) Snapshot() (raft.FSMSnapshot, error) {
	r.mu.RLock()
	b, err := json.Marshal(r.vals)
	r.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	return snapshot(b), nil
}

// Restore implements raft.FSM: it replaces the whole state.
func (r *registers) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	vals := map[string]string{}
	if err := json.NewDecoder(rc).Decode(&vals); err != nil {
		return fmt.Errorf("restore registers snapshot: %w", err)
	}
	r.mu.Lock()
	r.vals = vals
	r.mu.Unlock()
	return nil
}

// snapshot is the encoded registers.
type snapshot []byte

// Persist implements raft.FSMSnapshot.
func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (snapshot) Release() {}
