package kv

import (
	"hash/maphash"
	"io"
	"slices"
)

// SnapshotSummary describes a snapshot stream that ScanSnapshot checked.
type SnapshotSummary struct {
	// Keys, Tombstones and Leases count the records.
	Keys       uint64 `json:"keys"`
	Tombstones uint64 `json:"tombstones"`
	Leases     uint64 `json:"leases"`
	// AppliedIndex is the Raft index the state had applied.
	AppliedIndex uint64 `json:"applied_index"`
}

// ScanSnapshot reads a whole snapshot stream (as Persist writes it) and
// runs every check Restore runs, without building the state: it keeps the
// leases and one 8-byte hash per key, not the keys and values, so a store
// can check a snapshot before it hands it to Raft (whose restore of a
// stream the state machine then refuses is fatal) without holding a
// second copy of the data. The errors are Restore's.
func ScanSnapshot(r io.Reader) (SnapshotSummary, error) {
	rs := newRestoring(true)
	st, err := readSnapshotInto(r, rs)
	if err != nil {
		return SnapshotSummary{}, err
	}
	return SnapshotSummary{Keys: rs.count, Tombstones: rs.tombCount, Leases: rs.leaseCount, AppliedIndex: st.applied}, nil
}

// scanSeed is fixed per process: the hashes never leave it.
var scanSeed = maphash.MakeSeed()

func keyHash(key []byte) uint64 { return maphash.Bytes(scanSeed, key) }

// isLive says whether key is a live key of the stream read so far. In scan
// mode a hash match stands for the key: a false match (odds about n/2^64)
// refuses a sound snapshot, never accepts a bad one.
func (rs *restoring) isLive(key []byte) bool {
	if !rs.scan {
		_, live := rs.txn.Get(key)
		return live
	}
	if !rs.sorted {
		slices.Sort(rs.liveHashes)
		rs.sorted = true
	}
	_, found := slices.BinarySearch(rs.liveHashes, keyHash(key))
	return found
}
