package raftnode

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/types"
)

// reopenInterval bounds how often healingWAL tries to reopen a WAL stuck on
// a sealed tail: each try closes and reopens it, which costs a rescan.
const reopenInterval = time.Second

// errWALReopening is returned while the WAL is closed between a failed
// reopen and the next try.
var errWALReopening = errors.New("raftnode: write-ahead log is being reopened after a failed segment rotation")

// healingWAL is raft-wal with one repair. raft-wal v0.4.1 seals a full
// segment and creates the next one in the background; when that creation
// fails (the disk is full) it only logs "rotate error", and every later
// append fails with ErrSealed for good, even once space is back, until the
// WAL is reopened. Reopening recovers: the metadata already names the new
// segment and Open creates its file when it is missing. So on ErrSealed
// healingWAL reopens the WAL, at most once per reopenInterval, and retries
// the append once. A node whose disk filled up then writes again once space
// returns, without a restart.
//
// Before it closes the WAL it proves a segment can be created now, by
// creating and deleting one through the same file layer: raft must never
// find its store closed (it panics when it cannot save its term), so the
// WAL is only closed when the reopen is all but certain to succeed.
//
// Every call holds mu for reading; only the reopen holds it for writing,
// so no call ever reaches a WAL being reopened.
type healingWAL struct {
	dir         string
	segmentSize int
	vfs         types.VFS
	open        func() (*wal.WAL, error)
	logger      hclog.Logger

	mu      sync.RWMutex
	w       *wal.WAL // nil after a reopen whose Open failed
	lastTry time.Time
}

func newHealingWAL(dir string, segmentSize int, vfs types.VFS, logger hclog.Logger, open func() (*wal.WAL, error)) (*healingWAL, error) {
	w, err := open()
	if err != nil {
		return nil, err
	}
	return &healingWAL{dir: dir, segmentSize: segmentSize, vfs: vfs, open: open, logger: logger, w: w}, nil
}

// probeName is the file reopen creates to prove a segment fits. raft-wal
// ignores files whose names are not segment names.
const probeName = "reopen-probe.tmp"

// probe creates and deletes a preallocated segment-sized file.
func (h *healingWAL) probe() error {
	_ = h.vfs.Delete(h.dir, probeName) // a leftover of a crash mid-probe
	f, err := h.vfs.Create(h.dir, probeName, uint64(h.segmentSize))
	if err != nil {
		return err
	}
	cerr := f.Close()
	if err := h.vfs.Delete(h.dir, probeName); err != nil {
		return err
	}
	return cerr
}

// current runs f on the open WAL under the read lock.
func (h *healingWAL) current(f func(w *wal.WAL) error) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.w == nil {
		return errWALReopening
	}
	return f(h.w)
}

// StoreLogs implements raft.LogStore, reopening a WAL stuck on a sealed
// tail and retrying once.
func (h *healingWAL) StoreLogs(logs []*raft.Log) error {
	var failed *wal.WAL
	err := h.current(func(w *wal.WAL) error { failed = w; return w.StoreLogs(logs) })
	if !errors.Is(err, types.ErrSealed) && !errors.Is(err, errWALReopening) {
		return err
	}
	if rerr := h.reopen(failed); rerr != nil {
		return fmt.Errorf("%w (reopening the write-ahead log to recover: %v)", err, rerr)
	}
	return h.current(func(w *wal.WAL) error { return w.StoreLogs(logs) })
}

// reopen closes and reopens the WAL, unless another caller already did
// since failed was current, the last try was too recent, or the file
// system lacks room for a new segment (then the WAL stays as it is).
func (h *healingWAL) reopen(failed *wal.WAL) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.w != failed {
		return nil
	}
	if wait := reopenInterval - time.Since(h.lastTry); wait > 0 {
		return fmt.Errorf("next try in %s", wait.Round(time.Millisecond))
	}
	h.lastTry = time.Now()
	if err := h.probe(); err != nil {
		return fmt.Errorf("no room for a new segment yet: %w", err)
	}
	if h.w != nil {
		if err := h.w.Close(); err != nil {
			h.logger.Warn("closing the write-ahead log before reopening it", "error", err)
		}
		h.w = nil
	}
	w, err := h.open()
	if err != nil {
		return err
	}
	h.w = w
	h.logger.Info("reopened the write-ahead log after a failed segment rotation", "dir", h.dir)
	return nil
}

// StoreLog implements raft.LogStore.
func (h *healingWAL) StoreLog(l *raft.Log) error { return h.StoreLogs([]*raft.Log{l}) }

// FirstIndex implements raft.LogStore.
func (h *healingWAL) FirstIndex() (i uint64, err error) {
	err = h.current(func(w *wal.WAL) error { i, err = w.FirstIndex(); return err })
	return i, err
}

// LastIndex implements raft.LogStore.
func (h *healingWAL) LastIndex() (i uint64, err error) {
	err = h.current(func(w *wal.WAL) error { i, err = w.LastIndex(); return err })
	return i, err
}

// GetLog implements raft.LogStore.
func (h *healingWAL) GetLog(index uint64, l *raft.Log) error {
	return h.current(func(w *wal.WAL) error { return w.GetLog(index, l) })
}

// DeleteRange implements raft.LogStore.
func (h *healingWAL) DeleteRange(lo, hi uint64) error {
	return h.current(func(w *wal.WAL) error { return w.DeleteRange(lo, hi) })
}

// Set implements raft.StableStore.
func (h *healingWAL) Set(k, v []byte) error {
	return h.current(func(w *wal.WAL) error { return w.Set(k, v) })
}

// Get implements raft.StableStore.
func (h *healingWAL) Get(k []byte) (v []byte, err error) {
	err = h.current(func(w *wal.WAL) error { v, err = w.Get(k); return err })
	return v, err
}

// SetUint64 implements raft.StableStore.
func (h *healingWAL) SetUint64(k []byte, v uint64) error {
	return h.current(func(w *wal.WAL) error { return w.SetUint64(k, v) })
}

// GetUint64 implements raft.StableStore.
func (h *healingWAL) GetUint64(k []byte) (v uint64, err error) {
	err = h.current(func(w *wal.WAL) error { v, err = w.GetUint64(k); return err })
	return v, err
}

// Close implements io.Closer.
func (h *healingWAL) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.w == nil {
		return nil
	}
	err := h.w.Close()
	h.w = nil
	return err
}
