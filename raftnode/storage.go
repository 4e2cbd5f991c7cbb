package raftnode

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	walfs "github.com/hashicorp/raft-wal/fs"
	walmetrics "github.com/hashicorp/raft-wal/metrics"
	"github.com/hashicorp/raft-wal/segment"
	"github.com/hashicorp/raft-wal/types"
	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

const (
	// boltFile is the BoltDB log and stable store inside DataDir.
	boltFile = "raft.db"
	// logCacheSize is how many recent entries are served from memory; it
	// spares store reads when replicating to followers that are close behind.
	logCacheSize = 512
	// boltLockTimeout bounds the wait for raft.db's file lock. The data dir
	// lock already refuses a second process; this is the second line.
	boltLockTimeout = time.Second
)

// logStableStore is what raft needs from a log store that also keeps the
// stable state (term and vote): both raft-wal and raft-boltdb are one.
type logStableStore interface {
	raft.LogStore
	raft.StableStore
	io.Closer
}

// storage is the on-disk half of a node: the log and stable store (raft-wal
// or BoltDB), the file snapshot store, and the data dir lock.
type storage struct {
	dir    string
	kind   string // LogStoreWAL or LogStoreBoltDB
	reason string // why kind was chosen, for the start-up log line
	path   string // DataDir/wal or DataDir/raft.db
	lock   *dirLock
	store  logStableStore
	logs   raft.LogStore // store behind a LogCache, behind configs
	// configs is logs itself, seen as the configuration index tracker.
	configs *configTracker
	snaps   *raft.FileSnapshotStore
	walMet  *walmetrics.AtomicCollector // nil for BoltDB
}

// storageOptions are the parts of Options openStorage needs.
type storageOptions struct {
	dir            string
	logStore       string // requested; existing state wins
	walSegmentSize int
	retain         int
	logger         hclog.Logger
	wrapVFS        func(types.VFS) types.VFS // tests only; see Options.wrapVFS
}

// openStorage creates the data dir if needed, locks it, chooses the log
// store (chooseLogStore) and opens it and the snapshot store.
func openStorage(o storageOptions) (_ *storage, err error) {
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return nil, fmt.Errorf("raftnode: create data dir %s: %w", o.dir, err)
	}
	s := &storage{dir: o.dir}
	if s.lock, err = lockDataDir(o.dir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = s.close()
		}
	}()
	contents, err := scanDataDir(o.dir)
	if err != nil {
		return nil, err
	}
	choice, err := chooseLogStore(o.logStore, contents)
	if err != nil {
		return nil, err
	}
	s.kind, s.reason = choice.store, choice.reason
	s.path = filepath.Join(o.dir, storeFile(s.kind))
	var store logStableStore
	if s.kind == LogStoreWAL {
		store, s.walMet, err = openWAL(s.path, o.walSegmentSize, o.logger, o.wrapVFS)
	} else {
		store, err = openBolt(s.path)
	}
	if err != nil {
		return nil, err
	}
	s.store = store
	cache, err := raft.NewLogCache(logCacheSize, s.store)
	if err != nil {
		return nil, fmt.Errorf("raftnode: log cache: %w", err)
	}
	if s.snaps, err = raft.NewFileSnapshotStoreWithLogger(o.dir, o.retain, o.logger.Named("snapshot")); err != nil {
		return nil, fmt.Errorf("raftnode: open snapshot store in %s: %w", o.dir, err)
	}
	s.configs = newConfigTracker(cache, s.snaps)
	s.logs = s.configs
	return s, nil
}

// openWAL opens (creating if needed) a raft-wal directory. wrapVFS, non-nil
// only in tests, wraps the file layer segments are written through.
func openWAL(dir string, segmentSize int, logger hclog.Logger, wrapVFS func(types.VFS) types.VFS) (logStableStore, *walmetrics.AtomicCollector, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("raftnode: create %s: %w", dir, err)
	}
	met := walmetrics.NewAtomicCollector(wal.MetricDefinitions)
	opts := sliceOf(
		wal.WithSegmentSize(segmentSize),
		wal.WithLogger(logger.Named("wal")),
		wal.WithMetricsCollector(met))
	var vfs types.VFS = walfs.New()
	if wrapVFS != nil {
		vfs = wrapVFS(vfs)
	}
	opts = append(opts, wal.WithSegmentFiler(segment.NewFiler(dir, vfs)))
	w, err := newHealingWAL(dir, segmentSize, vfs, logger.Named("wal"), func() (*wal.WAL, error) { return wal.Open(dir, opts...) })
	if err != nil {
		return nil, nil, fmt.Errorf("raftnode: open write-ahead log %s: %w", dir, err)
	}
	return w, met, nil
}

// sliceOf returns its arguments as a slice. raft-wal's option type is
// unexported; inference is the only way to hold its options in a variable.
func sliceOf[T any](xs ...T) []T { return xs }

// openBolt opens (creating if needed) raft.db.
func openBolt(path string) (logStableStore, error) {
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
	return store, nil
}

// hasState reports whether raft has ever written state here: a term, a log
// entry or a snapshot. It is raft's own test, so our answer can never
// disagree with what BootstrapCluster would accept.
func (s *storage) hasState() (bool, error) {
	ok, err := raft.HasExistingState(s.logs, s.store, s.snaps)
	if err != nil {
		return false, fmt.Errorf("raftnode: inspect raft state in %s: %w", s.path, err)
	}
	return ok, nil
}

// dropMigrationLeftovers removes what a migration left of the store not in
// use: its backup (the migration is proven by this successful start) and
// any half-written copy. Failures are logged, never fatal: they cost disk,
// not safety, since chooseLogStore never treats them as current.
func (s *storage) dropMigrationLeftovers(logger hclog.Logger) {
	other := storeFile(otherStore(s.kind))
	for _, name := range []string{other + backupSuffix, other + tmpSuffix} {
		path := filepath.Join(s.dir, name)
		if _, err := os.Stat(path); err != nil {
			continue
		}
		if err := os.RemoveAll(path); err != nil {
			logger.Warn("could not remove migration leftover", "path", path, "error", err)
			continue
		}
		logger.Info("removed migration leftover after a successful start", "path", path)
	}
}

// logSizeBytes is the on-disk size of the log store (raft.db, or every
// file under wal/), or 0 if it cannot be read.
func (s *storage) logSizeBytes() float64 {
	return float64(pathSize(s.path))
}

// pathSize is the size of a file, or the total of the files under a
// directory; unreadable entries count 0.
func pathSize(path string) int64 {
	var total int64
	_ = filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			total += fi.Size()
		}
		return nil
	})
	return total
}

// close closes the log store and releases the data dir lock; the snapshot
// store holds no open files.
func (s *storage) close() error {
	var err error
	if s.store != nil {
		if cerr := s.store.Close(); cerr != nil {
			err = fmt.Errorf("raftnode: close %s: %w", s.path, cerr)
		}
	}
	s.lock.release()
	return err
}
