package raftnode

import (
	"sync"

	"github.com/hashicorp/raft"
)

// configTracker is the log store raft writes through: it passes every call
// on and, on the way, keeps the log index of the latest configuration
// entry. raft's live GetConfiguration future does not report that index
// (its Index is always 0), yet operators and the HTTP API want it.
//
// Watching the writes makes the answer free: every entry a leader appends
// or a follower receives passes StoreLogs, where a configuration entry is
// seen in memory. Only when the tracked entry is truncated away (a
// follower's conflicting tail, or a snapshot install replacing the log)
// does the next read scan the log backwards, once, falling back to the
// newest snapshot's configuration index when the log holds none. Head
// compaction leaves the index as it is: the configuration it names is
// still the latest, merely folded into a snapshot.
type configTracker struct {
	raft.LogStore
	snaps raft.SnapshotStore

	mu    sync.Mutex
	index uint64 // latest configuration entry, valid when known
	known bool
}

func newConfigTracker(logs raft.LogStore, snaps raft.SnapshotStore) *configTracker {
	return &configTracker{LogStore: logs, snaps: snaps}
}

// StoreLog implements raft.LogStore.
func (c *configTracker) StoreLog(l *raft.Log) error {
	return c.StoreLogs([]*raft.Log{l})
}

// StoreLogs implements raft.LogStore, noting configuration entries once
// they are stored.
func (c *configTracker) StoreLogs(logs []*raft.Log) error {
	if err := c.LogStore.StoreLogs(logs); err != nil {
		return err
	}
	for i := len(logs) - 1; i >= 0; i-- {
		if logs[i].Type == raft.LogConfiguration {
			c.mu.Lock()
			c.index, c.known = logs[i].Index, true
			c.mu.Unlock()
			break
		}
	}
	return nil
}

// DeleteRange implements raft.LogStore. Deleting up to the end of the log
// (a truncated tail, or the whole log under an installed snapshot) may
// remove the tracked entry: the index is then recomputed on the next read.
func (c *configTracker) DeleteRange(lo, hi uint64) error {
	last, lastErr := c.LogStore.LastIndex()
	err := c.LogStore.DeleteRange(lo, hi)
	c.mu.Lock()
	if lastErr != nil || hi >= last {
		if c.known && c.index >= lo {
			c.known = false
		}
	}
	c.mu.Unlock()
	return err
}

// index returns the latest configuration's log index, or 0 if there is
// no configuration.
func (c *configTracker) configIndex() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.known {
		c.index, c.known = c.scan(), true
	}
	return c.index
}

// scan looks for the latest configuration entry from the end of the log,
// and in the newest snapshot when the log has none.
func (c *configTracker) scan() uint64 {
	first, err1 := c.LogStore.FirstIndex()
	last, err2 := c.LogStore.LastIndex()
	if err1 == nil && err2 == nil {
		for i := last; i >= first && i > 0; i-- {
			var l raft.Log
			if c.LogStore.GetLog(i, &l) == nil && l.Type == raft.LogConfiguration {
				return i
			}
		}
	}
	if metas, err := c.snaps.List(); err == nil && len(metas) > 0 {
		return metas[0].ConfigurationIndex
	}
	return 0
}
