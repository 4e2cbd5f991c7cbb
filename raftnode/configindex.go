package raftnode

import (
	"sync"

	"github.com/hashicorp/raft"
)

// configIndex finds the log index of the latest configuration entry. raft's
// live GetConfiguration future does not report it (its Index is always 0),
// yet operators and the HTTP API want it, so we find it in the log.
//
// Scanning the whole log on every call would be slow on a long log, so it
// remembers how far it has scanned and the term of that entry. By the Log
// Matching property, if the entry at that index still has that term, every
// entry before it is unchanged too, and only the new tail needs scanning.
// Otherwise (a follower's log was rewritten, or compacted under a snapshot)
// it rescans backwards from the end.
type configIndex struct {
	mu          sync.Mutex
	index       uint64 // latest configuration entry found (or snapshot's)
	scanned     uint64 // entries up to here have been looked at
	scannedTerm uint64 // term of the entry at scanned
}

// get returns the configuration index, or 0 if there is no configuration.
func (c *configIndex) get(logs raft.LogStore, snaps raft.SnapshotStore) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	first, err1 := logs.FirstIndex()
	last, err2 := logs.LastIndex()
	if err1 != nil || err2 != nil {
		return c.index
	}
	if c.scanned > 0 && c.scanned <= last && termAt(logs, c.scanned) == c.scannedTerm {
		for i := c.scanned + 1; i <= last; i++ {
			if typ, ok := typeAt(logs, i); ok && typ == raft.LogConfiguration {
				c.index = i
			}
		}
		c.mark(logs, last)
		return c.index
	}
	c.index = 0
	for i := last; i >= first && i > 0; i-- {
		if typ, ok := typeAt(logs, i); ok && typ == raft.LogConfiguration {
			c.index = i
			break
		}
	}
	if c.index == 0 {
		// The configuration predates the log: it lives in the snapshot.
		if metas, err := snaps.List(); err == nil && len(metas) > 0 {
			c.index = metas[0].ConfigurationIndex
		}
	}
	c.mark(logs, last)
	return c.index
}

// mark records the scanned tip.
func (c *configIndex) mark(logs raft.LogStore, last uint64) {
	c.scanned, c.scannedTerm = last, termAt(logs, last)
}

func typeAt(logs raft.LogStore, i uint64) (raft.LogType, bool) {
	var l raft.Log
	if err := logs.GetLog(i, &l); err != nil {
		return 0, false
	}
	return l.Type, true
}

// termAt is the term of entry i, or 0 if it is not in the log.
func termAt(logs raft.LogStore, i uint64) uint64 {
	var l raft.Log
	if i == 0 || logs.GetLog(i, &l) != nil {
		return 0
	}
	return l.Term
}
