package raftnode

import "github.com/hashicorp/raft"

// raft asks its log store whether it is a raft.MonotonicLogStore (raft-wal
// is: it cannot hold a gap). When it is, raft deletes the whole log after
// installing a snapshot, which leaves a gap before the snapshot's index;
// otherwise it keeps the log's tail, and the next append after the gap
// fails on raft-wal ("non-monotonic log entries"). A restore of a user
// snapshot (PUT /v1/snapshot) always leaves such a gap. So every wrapper
// between raft and the store must answer for the store it wraps.

var (
	_ raft.MonotonicLogStore = (*configTracker)(nil)
	_ raft.MonotonicLogStore = (*healingWAL)(nil)
)

// IsMonotonic answers for the wrapped store.
func (c *configTracker) IsMonotonic() bool {
	m, ok := c.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

// IsMonotonic: raft-wal is monotonic.
func (h *healingWAL) IsMonotonic() bool { return true }
