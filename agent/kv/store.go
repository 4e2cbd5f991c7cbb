package kv

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	iradix "github.com/hashicorp/go-immutable-radix"
	"github.com/hashicorp/raft"

	"github.com/clusteragent/agent/raftnode/command"
)

// Entry is one key as readers see it. Value is the caller's own copy.
type Entry struct {
	// Key is the full key.
	Key string `json:"key"`
	// Value is the stored bytes (base64 in JSON); never nil, empty when the
	// value is empty.
	Value []byte `json:"value"`
	// CreateIndex is the log index of the put that created the key; it
	// stays while the key lives and starts over after a delete.
	CreateIndex uint64 `json:"create_index"`
	// ModifyIndex is the log index of the last put of the key: the value
	// a compare-and-set names.
	ModifyIndex uint64 `json:"modify_index"`
}

// entry is a key's stored value. Entries are never changed once in a tree:
// a put inserts a new one, so readers and snapshots holding an older tree
// keep seeing what they saw.
type entry struct {
	value  []byte
	create uint64
	modify uint64
	// lease is the ID of the lease the key is attached to, 0 for none.
	lease uint64
}

// export copies e out for a reader, so nobody outside can change the
// bytes the tree shares with snapshots.
func (e *entry) export(key string) Entry {
	v := make([]byte, len(e.value))
	copy(v, e.value)
	return Entry{Key: key, Value: v, CreateIndex: e.create, ModifyIndex: e.modify}
}

// state is one published version of the store. It is never changed after
// it is published; writers publish a new one.
type state struct {
	// tree holds the live keys (*entry). Writes track mutations, so its
	// nodes' watch channels close when a key under them changes: that is
	// what wakes blocking reads (see watch.go).
	tree *iradix.Tree
	// tombs and order hold the tombstones of deleted keys (see
	// tombstone.go); horizon is the highest delete index compacted away.
	tombs   *iradix.Tree
	order   *iradix.Tree
	horizon uint64
	// leases holds the leases by leaseKey(id) (*lease); leaseKeys holds
	// leaseKey(id)+key for every key attached to one (see lease.go).
	leases, leaseKeys *iradix.Tree
	applied           uint64
	// restored is closed when Restore replaces this state wholesale, which
	// no watch channel of the old tree reports; every state published
	// between two restores shares it.
	restored chan struct{}
}

// newState returns an empty state.
func newState() *state {
	return &state{tree: iradix.New(), tombs: iradix.New(), order: iradix.New(),
		leases: iradix.New(), leaseKeys: iradix.New(), restored: make(chan struct{})}
}

// Store is the replicated key/value state machine: a raft.FSM applying
// TypePut and TypeDelete mutations, with lock-free reads.
//
// Concurrency: raft calls Apply, Snapshot and Restore from its FSM
// goroutine, one at a time, and FSMSnapshot.Persist from another one while
// Apply continues. Get, List, Len, Hash, AppliedIndex and View may be
// called from any goroutine at any time: they read the latest published
// immutable tree through an atomic pointer and never wait for a writer.
type Store struct {
	limits Limits
	mux    *command.Router
	// mu serialises the writers (Apply, Restore). Raft already calls them
	// from one goroutine; the lock makes misuse harmless instead of a race.
	mu  sync.Mutex
	cur atomic.Pointer[state]
	// w collects the writes of one Apply or ApplyBatch (under mu): one
	// radix transaction per batch copies each changed path once, not once
	// per entry.
	w *writeTxn
}

var _ raft.BatchingFSM = (*Store)(nil)

// NewStore returns an empty store that enforces l in Apply. Limits come
// from code, not from operators, so invalid limits are a programming error
// and NewStore panics on them; check values from elsewhere with
// Limits.Validate first.
func NewStore(l Limits) *Store {
	if err := l.Validate(); err != nil {
		panic("kv: NewStore: " + err.Error())
	}
	s := &Store{limits: l, mux: command.NewRouter()}
	s.mux.Handle(TypePutBin, func(index uint64, payload json.RawMessage) any {
		c, err := decodeCommand(payload, false, s.limits)
		return s.applyCommand(index, c, err)
	})
	s.mux.Handle(TypeDeleteBin, func(index uint64, payload json.RawMessage) any {
		c, err := decodeCommand(payload, true, s.limits)
		return s.applyCommand(index, c, err)
	})
	s.mux.Handle(TypePut, func(index uint64, payload json.RawMessage) any {
		p, err := decodePut(payload, s.limits)
		return s.applyCommand(index, Command{Key: p.Key, Value: p.Value, CAS: p.CAS}, err)
	})
	s.mux.Handle(TypeDelete, func(index uint64, payload json.RawMessage) any {
		p, err := decodeDelete(payload, s.limits)
		return s.applyCommand(index, Command{Delete: true, Key: p.Key, CAS: p.CAS}, err)
	})
	s.handleLeases()
	s.cur.Store(newState())
	return s
}

// Limits returns the limits the store enforces.
func (s *Store) Limits() Limits { return s.limits }

// Apply applies one committed log entry and returns a Result for a kv
// command, or an error value when the entry is refused: it does not
// decode (command.ErrInvalidMutation), has a bad payload (ErrInvalidCommand), an
// invalid key or value (ErrInvalidKey, ErrValueTooLarge), or an index at
// or below the last applied one (ErrOutOfOrder). A refused entry changes
// no key; every entry except an out-of-order one advances AppliedIndex.
// Apply is deterministic: its outcome depends only on the entry and the
// state before it. An entry of a type this version does not know makes it
// panic with an *UnknownCommandError (see there) rather than diverge.
func (s *Store) Apply(l *raft.Log) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.cur.Load()
	s.w = newWriteTxn(st)
	res, applied := s.applyOne(l, st.applied)
	s.publish(st, applied)
	return res
}

// ApplyBatch applies a committed batch in one radix transaction, so a batch
// costs about as much as its largest entry rather than the sum; readers see
// the batch's state once it is whole. Entries other than commands
// (configuration changes, which raft also hands a batching FSM) answer nil
// and change nothing. Each command's outcome is what Apply would give it.
func (s *Store) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.cur.Load()
	s.w = newWriteTxn(st)
	applied := st.applied
	for i, l := range logs {
		if l.Type == raft.LogCommand {
			out[i], applied = s.applyOne(l, applied)
		}
	}
	s.publish(st, applied)
	return out
}

// applyOne applies l into s.w given the last applied index, and returns
// its outcome and the new last applied index.
func (s *Store) applyOne(l *raft.Log, applied uint64) (any, uint64) {
	if l.Index <= applied {
		return fmt.Errorf("entry %d: %w: the last applied entry is %d", l.Index, ErrOutOfOrder, applied), applied
	}
	res := s.mux.Apply(l)
	if err, ok := res.(error); ok && errors.Is(err, command.ErrUnknownMutation) {
		panic(&UnknownCommandError{Index: l.Index, Err: err})
	}
	return res, l.Index
}

// UnknownCommandError is what Apply panics with on a committed entry whose
// command type this version does not know: one a newer version wrote.
// Refusing it and going on, as for a malformed command, would leave this
// replica without a change the others made, and they would silently
// diverge from then on. Stopping instead is deterministic: every replica of
// this version stops at the same entry, and after a restart stops there
// again, until it is upgraded. The agent's feature gate keeps a leader from
// proposing such commands while an older server is in the configuration,
// so this fires only when that gate was bypassed.
type UnknownCommandError struct {
	// Index is the entry's log index.
	Index uint64
	// Err wraps command.ErrUnknownMutation and names the type.
	Err error
}

func (e *UnknownCommandError) Error() string {
	return fmt.Sprintf("kv: log entry %d holds a command this version cannot apply (%v); "+
		"upgrade this agent to the version the other servers run", e.Index, e.Err)
}

func (e *UnknownCommandError) Unwrap() error { return e.Err }

// publish ends s.w and makes its trees, at index applied, the state
// readers see (unless nothing moved). Watchers are notified only after the
// new state is published, so a woken watcher reads the change that woke it.
func (s *Store) publish(prev *state, applied uint64) {
	w := s.w
	s.w = nil
	next := w.commit(prev, applied)
	if next.applied != prev.applied || next.tree.Root() != prev.tree.Root() || next.tombs.Root() != prev.tombs.Root() ||
		next.horizon != prev.horizon || next.leases.Root() != prev.leases.Root() || next.leaseKeys.Root() != prev.leaseKeys.Root() {
		s.cur.Store(next)
	}
	w.data.Notify()
}

// applyCommand applies a decoded command, or answers its decode error; it
// runs under s.mu.
func (s *Store) applyCommand(index uint64, c Command, decodeErr error) any {
	if decodeErr != nil {
		return fmt.Errorf("entry %d: %w", index, decodeErr)
	}
	if c.Delete {
		return s.applyDelete(index, c)
	}
	return s.applyPut(index, c)
}

func (s *Store) applyPut(index uint64, p Command) any {
	key := []byte(p.Key) // the tree keeps this slice: it must be fresh
	create, modify, oldLease := index, uint64(0), uint64(0)
	if v, ok := s.w.data.Get(key); ok {
		old := v.(*entry)
		create, modify, oldLease = old.create, old.modify, old.lease
	}
	if p.Lease != 0 && !s.w.hasLease(p.Lease) {
		return fmt.Errorf("entry %d: %w: %d", index, ErrLeaseNotFound, p.Lease)
	}
	if p.CAS != nil && *p.CAS != modify {
		return Result{OK: false, Index: index}
	}
	s.w.data.Insert(key, &entry{value: p.Value, create: create, modify: index, lease: p.Lease})
	s.w.dropTomb(key)
	s.w.moveLeaseKey(key, oldLease, p.Lease)
	return Result{OK: true, Index: index}
}

func (s *Store) applyDelete(index uint64, p Command) any {
	key := []byte(p.Key)
	v, exists := s.w.data.Get(key)
	if p.CAS != nil {
		modify := uint64(0)
		if exists {
			modify = v.(*entry).modify
		}
		if *p.CAS != modify {
			return Result{OK: false, Index: index}
		}
	}
	if exists {
		s.w.data.Delete(key)
		s.w.addTomb(key, index, s.limits.tombstoneCap())
		s.w.moveLeaseKey(key, v.(*entry).lease, 0)
	}
	return Result{OK: true, Index: index}
}

// View is a consistent, immutable read view of the store at one applied
// index. Holding a View keeps that version's data alive, so hold it only
// for the duration of a request.
type View struct {
	st *state
}

// View returns a read view of the current state: several reads through
// one View agree with each other and with its AppliedIndex.
func (s *Store) View() View { return View{st: s.cur.Load()} }

// Get returns the entry for key, and whether it exists.
func (s *Store) Get(key string) (Entry, bool) { return s.View().Get(key) }

// List returns every entry whose key starts with prefix, sorted by key
// (byte order); prefix "" lists all.
func (s *Store) List(prefix string) []Entry { return s.View().List(prefix) }

// Len returns the number of keys.
func (s *Store) Len() int { return s.View().Len() }

// AppliedIndex returns the index of the last log entry applied, kv or not,
// or the index recorded in the last restored snapshot.
func (s *Store) AppliedIndex() uint64 { return s.View().AppliedIndex() }

// Hash returns a digest of every entry; see View.Hash.
func (s *Store) Hash() [32]byte { return s.View().Hash() }

// Get returns the entry for key, and whether it exists.
func (v View) Get(key string) (Entry, bool) {
	got, ok := v.st.tree.Get([]byte(key))
	if !ok {
		return Entry{}, false
	}
	return got.(*entry).export(key), true
}

// List returns every entry whose key starts with prefix, sorted by key.
func (v View) List(prefix string) []Entry {
	var out []Entry
	v.st.tree.Root().WalkPrefix([]byte(prefix), func(k []byte, val any) bool {
		out = append(out, val.(*entry).export(string(k)))
		return false
	})
	return out
}

// Len returns the number of keys.
func (v View) Len() int { return v.st.tree.Len() }

// AppliedIndex returns the log index this view reflects.
func (v View) AppliedIndex() uint64 { return v.st.applied }

// Hash returns a SHA-256 over the whole replicated state, in the order a
// snapshot writes it: every lease (ID, TTL), every entry in key order (key,
// value, create and modify index, lease ID), every tombstone (key, delete
// index), the counts and the tombstone horizon. Replicas holding the same
// state have the same hash, and a divergence in leases or tombstones shows
// as surely as one in values: both change what later commands do.
// AppliedIndex is left out on purpose: two replicas that agree on every key
// compare equal even if one has seen a later entry that changed nothing.
// O(n).
func (v View) Hash() [32]byte {
	h := sha256.New()
	enc := recordEncoder{w: h}
	v.st.leases.Root().Walk(func(k []byte, val any) bool {
		enc.uvarint(binary.BigEndian.Uint64(k))
		enc.uvarint(uint64(val.(*lease).ttl))
		return false
	})
	v.st.tree.Root().Walk(func(k []byte, val any) bool {
		enc.record(k, val.(*entry))
		enc.uvarint(val.(*entry).lease)
		return false
	})
	v.st.tombs.Root().Walk(func(k []byte, val any) bool {
		enc.uvarint(uint64(len(k)))
		enc.write(k)
		enc.uvarint(val.(uint64))
		return false
	})
	for _, n := range []uint64{uint64(v.st.leases.Len()), uint64(v.st.tree.Len()), uint64(v.st.tombs.Len()), v.st.horizon} {
		enc.uvarint(n)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}
