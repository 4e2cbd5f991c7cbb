package kv

import (
	"encoding/binary"

	iradix "github.com/hashicorp/go-immutable-radix"
)

// Tombstones.
//
// A blocking read must learn that a key it watches was deleted, and at
// which index, even when it starts after the delete: a client holding
// index N asks "anything after N?". So a delete leaves a tombstone (the
// key and its delete index) in the replicated state, and a later put of
// the key removes it again. Tombstones are part of the FSM state: applied
// the same way everywhere, written to snapshots, restored from them.
//
// They are bounded by count, not by time, because apply has no clock:
// once there are more than Limits.MaxTombstones, the oldest (lowest delete
// index) are dropped and the horizon rises to the highest index dropped.
// A watcher holding an index below the horizon may have missed a delete it
// can no longer be told about, so it is answered at once (WakeIndex), with
// an index at or above the horizon, and reads the current state again.

// writeTxn is the set of radix transactions one Apply or ApplyBatch writes
// through, plus the horizon as it moves.
type writeTxn struct {
	data, tombs, order *iradix.Txn
	leases, leaseKeys  *iradix.Txn
	horizon            uint64
	// ntombs is the tombstone count (iradix.Txn does not tell it).
	ntombs int
}

// newWriteTxn starts a write on st. Only the data tree tracks mutations:
// watchers watch keys, and a tombstone is always written together with
// the delete of its key, which already wakes them.
func newWriteTxn(st *state) *writeTxn {
	w := &writeTxn{data: st.tree.Txn(), tombs: st.tombs.Txn(), order: st.order.Txn(),
		leases: st.leases.Txn(), leaseKeys: st.leaseKeys.Txn(), horizon: st.horizon, ntombs: st.tombs.Len()}
	w.data.TrackMutate(true)
	return w
}

// commit returns the state the transactions built, at index applied. It
// does not notify watchers: the caller does, once the state is published.
func (w *writeTxn) commit(prev *state, applied uint64) *state {
	return &state{
		tree:      w.data.CommitOnly(),
		tombs:     w.tombs.CommitOnly(),
		order:     w.order.CommitOnly(),
		leases:    w.leases.CommitOnly(),
		leaseKeys: w.leaseKeys.CommitOnly(),
		horizon:   w.horizon,
		applied:   applied,
		restored:  prev.restored,
	}
}

// orderKey sorts tombstones by delete index, then key: the compaction
// order. A big-endian index prefix makes byte order index order.
func orderKey(index uint64, key []byte) []byte {
	b := make([]byte, 8, 8+len(key))
	binary.BigEndian.PutUint64(b, index)
	return append(b, key...)
}

// addTomb records that key was deleted at index, then drops the oldest
// tombstones beyond limit, raising the horizon. key is kept by the trees.
func (w *writeTxn) addTomb(key []byte, index uint64, limit int) {
	w.dropTomb(key)
	w.tombs.Insert(key, index)
	w.order.Insert(orderKey(index, key), nil)
	w.ntombs++
	for w.ntombs > limit {
		ok, _, found := w.order.Root().Minimum()
		if !found {
			return
		}
		idx := binary.BigEndian.Uint64(ok[:8])
		w.order.Delete(ok)
		w.tombs.Delete(ok[8:])
		w.ntombs--
		w.horizon = max(w.horizon, idx)
	}
}

// dropTomb forgets key's tombstone, if any: the key lives again, and its
// modify index now says when it last changed.
func (w *writeTxn) dropTomb(key []byte) {
	if v, ok := w.tombs.Delete(key); ok {
		w.order.Delete(orderKey(v.(uint64), key))
		w.ntombs--
	}
}

// Tombstone is a deleted key as Tombstones reports it.
type Tombstone struct {
	Key         string
	DeleteIndex uint64
}

// Tombstones returns the remembered deletes under prefix, sorted by key.
func (v View) Tombstones(prefix string) []Tombstone {
	var out []Tombstone
	v.st.tombs.Root().WalkPrefix([]byte(prefix), func(k []byte, val any) bool {
		out = append(out, Tombstone{Key: string(k), DeleteIndex: val.(uint64)})
		return false
	})
	return out
}

// Horizon returns the tombstone horizon: the highest delete index whose
// tombstone was compacted away (0 when none ever was). For a state
// restored from a format-1 snapshot, which carried no tombstones, it is
// that snapshot's applied index.
func (v View) Horizon() uint64 { return v.st.horizon }
