package raftnode

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

const (
	// boltFile is the log and stable store inside DataDir.
	boltFile = "raft.db"
	// logCacheSize is how many recent entries are served from memory; it
	// spares BoltDB reads when replicating to followers that are close behind.
	logCacheSize = 512
	// boltLockTimeout bounds the wait for raft.db's file lock. Without it a
	// second process on the same data dir would hang forever in Open.
	boltLockTimeout = time.Second
)

// storage is the on-disk half of a node: BoltDB (log + stable store) and the
// file snapshot store.
type storage struct {
	path  string
	bolt  *raftboltdb.BoltStore
	logs  raft.LogStore // bolt behind a LogCache
	snaps *raft.FileSnapshotStore
}

// openStorage creates dataDir if needed and opens the stores in it.
func openStorage(dataDir string, retain int, logger hclog.Logger) (*storage, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("raftnode: create data dir %s: %w", dataDir, err)
	}
	path := filepath.Join(dataDir, boltFile)
	boltOpts := *bbolt.DefaultOptions
	boltOpts.Timeout = boltLockTimeout
	// Log compaction frees pages in bulk, and a synced freelist would be
	// rewritten by every commit, i.e. by every batch of log entries. Not
	// syncing it (bbolt rebuilds it by scanning when it opens the file) and
	// keeping it as a map (O(1) allocation) is what etcd does with its bbolt
	// backend; crash safety does not depend on it.
	boltOpts.NoFreelistSync = true
	boltOpts.FreelistType = bbolt.FreelistMapType
	store, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &boltOpts})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s is locked by another process or node", ErrDataDirInUse, path)
		}
		return nil, fmt.Errorf("raftnode: open %s: %w", path, err)
	}
	logs, err := raft.NewLogCache(logCacheSize, store)
	if err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("raftnode: log cache: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dataDir, retain, logger.Named("snapshot"))
	if err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("raftnode: open snapshot store in %s: %w", dataDir, err)
	}
	return &storage{path: path, bolt: store, logs: logs, snaps: snaps}, nil
}

// hasState reports whether raft has ever written state here: a term, a log
// entry or a snapshot. It is raft's own test, so our answer can never
// disagree with what BootstrapCluster would accept.
func (s *storage) hasState() (bool, error) {
	ok, err := raft.HasExistingState(s.logs, s.bolt, s.snaps)
	if err != nil {
		return false, fmt.Errorf("raftnode: inspect raft state in %s: %w", s.path, err)
	}
	return ok, nil
}

// logSizeBytes is the size of raft.db, or 0 if it cannot be read.
func (s *storage) logSizeBytes() float64 {
	fi, err := os.Stat(s.path)
	if err != nil {
		return 0
	}
	return float64(fi.Size())
}

// close closes BoltDB; the snapshot store holds no open files.
func (s *storage) close() error {
	if err := s.bolt.Close(); err != nil {
		return fmt.Errorf("raftnode: close %s: %w", s.path, err)
	}
	return nil
}
