package kv

import (
	"context"
)

// Blocking reads.
//
// A watcher waits on the radix tree's own watch channels (mutation
// tracking, as Consul's memdb does) rather than on a notifier of our own:
// every node and leaf of the tree carries a channel that is closed when a
// write replaces it, so a watch on one key or one prefix costs one channel
// receive in a select and nothing else. 10,000 idle watchers are 10,000
// parked goroutines, no polling and no per-write work proportional to
// them; a write closes only the channels on its own path, so it wakes only
// watchers of that key, of a prefix of it, or of a missing key whose
// deepest existing node is on that path (those re-check and sleep again).

// Target is what a blocking read watches: one key, or every key under a
// prefix ("" is the whole store).
type Target struct {
	// Key is the key, or the prefix when Prefix is set.
	Key string
	// Prefix makes Key a prefix.
	Prefix bool
}

// ChangeIndex returns the index of the last change to t that v knows of:
// the highest modify index of a live key and delete index of a tombstone
// in t, 0 when there are neither. It is O(keys under the prefix).
func (v View) ChangeIndex(t Target) uint64 {
	k := []byte(t.Key)
	if !t.Prefix {
		if e, ok := v.st.tree.Get(k); ok {
			return e.(*entry).modify
		}
		if d, ok := v.st.tombs.Get(k); ok {
			return d.(uint64)
		}
		return 0
	}
	var idx uint64
	v.st.tree.Root().WalkPrefix(k, func(_ []byte, val any) bool {
		idx = max(idx, val.(*entry).modify)
		return false
	})
	v.st.tombs.Root().WalkPrefix(k, func(_ []byte, val any) bool {
		idx = max(idx, val.(uint64))
		return false
	})
	return idx
}

// watch returns a channel closed when t may have changed after v.
func (v View) watch(t Target) <-chan struct{} {
	if t.Prefix {
		return v.st.tree.Root().Iterator().SeekPrefixWatch([]byte(t.Key))
	}
	ch, _, _ := v.st.tree.Root().GetWatch([]byte(t.Key))
	return ch
}

// WakeIndex decides a blocking read that holds index after, given the
// target's last change index and the tombstone horizon: whether to answer
// now, and the index to answer with (the one the client passes next).
//
//   - after 0: answer now (a plain read that learns its index).
//   - after below the horizon: a delete after it may have been compacted
//     away, so answer now, with an index at least the horizon so the
//     client's next call blocks.
//   - changed after it: answer now.
//
// The index is never 0, so a client passing it back always blocks.
func WakeIndex(after, changed, horizon uint64) (index uint64, ready bool) {
	index = max(changed, 1)
	switch {
	case after == 0:
		return index, true
	case after < horizon:
		return max(index, horizon), true
	case changed > after:
		return index, true
	}
	return index, false
}

// Wait blocks until t has changed after index after (see WakeIndex), the
// state is replaced by a Restore, or ctx ends, and returns the view to
// answer from and the index to answer with. A Restore answers at once with
// the restored state: its indexes may be lower than after, and the client
// must read again rather than wait for an index that may never come.
//
// current says the caller made sure this store has applied everything
// committed (a linearizable read): then an index after above the applied
// one can only come from before a restore that went back, and is answered
// at once too. Without it (a stale read) the store may simply lag the
// client, and it waits to catch up.
func (s *Store) Wait(ctx context.Context, t Target, after uint64, current bool) (View, uint64) {
	for {
		v := s.View()
		idx, ready := WakeIndex(after, v.ChangeIndex(t), v.st.horizon)
		// max(applied, 1): a store that has applied nothing yet answers
		// plain reads with index 1, and that must block, not look like an
		// index from before a restore.
		if ready || (current && after > max(v.st.applied, 1)) {
			return v, idx
		}
		select {
		case <-v.watch(t):
		case <-v.st.restored:
			v = s.View()
			return v, max(v.ChangeIndex(t), 1)
		case <-ctx.Done():
			v = s.View()
			idx, _ := WakeIndex(after, v.ChangeIndex(t), v.st.horizon)
			return v, idx
		}
	}
}
