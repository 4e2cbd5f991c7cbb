package raftnode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft-wal/migrate"
)

// migrateBatchBytes is how much log data goes into one StoreLogs call of
// the copy: one fsync (raft-wal) or one transaction (BoltDB) per batch.
const migrateBatchBytes = 1 << 20

// MigrateReport describes what MigrateStore did.
type MigrateReport struct {
	// From and To are the log stores before and after: LogStoreWAL or
	// LogStoreBoltDB.
	From, To string
	// FirstIndex and LastIndex bound the entries copied; both are 0 when the
	// log was empty (all of it in a snapshot).
	FirstIndex, LastIndex uint64
	// Entries is how many log entries were copied and verified.
	Entries uint64
	// Bytes is the total size of the entries' data and extensions.
	Bytes int64
	// Duration is the wall time of the whole migration.
	Duration time.Duration
	// Backup is the path the old store was renamed to. It is kept until a
	// node next starts successfully on the data dir, which removes it.
	Backup string
	// Resumed is true when this run finished a migration that an earlier
	// run left between its two renames.
	Resumed bool
}

// MigrateStore converts the Raft log and stable state of a stopped node's
// data dir to the log store to (LogStoreWAL or LogStoreBoltDB), in place.
// progress, if not nil, receives human-readable steps.
//
// It copies the current store into <target>.tmp, verifies the copy entry by
// entry and key by key, then renames the current store to <source>.backup
// and the copy to its final name. A crash at any point leaves a data dir
// that either a node starts on unchanged, or that MigrateStore finishes when
// run again. Snapshots are not touched: both stores share them.
//
// It fails with ErrDataDirInUse while a node holds the dir, ErrNoRaftState
// when the dir holds neither store, ErrAlreadyOnStore when it already uses
// to, ErrStoreConflict when what the dir holds is ambiguous, and
// ErrMigrationMismatch when the copy does not match its source.
func MigrateStore(ctx context.Context, dataDir, to string, progress func(string)) (MigrateReport, error) {
	return migrateStore(ctx, migration{dir: dataDir, to: to, segmentSize: DefaultWALSegmentSize, progress: progress})
}

// migration is one run of MigrateStore.
type migration struct {
	dir         string
	to          string
	segmentSize int
	progress    func(string)
	// afterCopy, if set, runs on the open copy before it is closed and
	// verified. Tests use it to corrupt the copy.
	afterCopy func(dst logStableStore) error
	// betweenRenames, if set, runs after the source has become the backup
	// and before the copy takes its place; an error stops the run there, as
	// a crash would. Tests use it.
	betweenRenames func() error
}

// migrateStore is MigrateStore with the knobs tests need.
func migrateStore(ctx context.Context, m migration) (MigrateReport, error) {
	start := time.Now()
	if !validLogStore(m.to) {
		return MigrateReport{}, fmt.Errorf("%w: log store %q must be %q or %q", ErrInvalidArgument, m.to, LogStoreWAL, LogStoreBoltDB)
	}
	if m.progress == nil {
		m.progress = func(string) {}
	}
	// lockDataDir would create the LOCK file; a missing dir has no state to
	// lock and must stay missing.
	if _, err := os.Stat(m.dir); errors.Is(err, os.ErrNotExist) {
		return MigrateReport{}, fmt.Errorf("%w: data dir %s does not exist", ErrNoRaftState, m.dir)
	} else if err != nil {
		return MigrateReport{}, fmt.Errorf("raftnode: inspect data dir: %w", err)
	}
	lock, err := lockDataDir(m.dir)
	if err != nil {
		return MigrateReport{}, err
	}
	defer lock.release()
	contents, err := scanDataDir(m.dir)
	if err != nil {
		return MigrateReport{}, err
	}
	resume, err := planMigration(m.dir, m.to, contents)
	if err != nil {
		return MigrateReport{}, err
	}
	from := otherStore(m.to)
	rep := MigrateReport{From: from, To: m.to, Resumed: resume,
		Backup: filepath.Join(m.dir, storeFile(from)+backupSuffix)}
	if resume {
		err = m.resume(ctx, &rep)
	} else {
		err = m.run(ctx, &rep)
	}
	rep.Duration = time.Since(start)
	return rep, err
}

// planMigration decides from what dir holds whether a migration to to can
// start afresh (resume false) or must finish an interrupted one (resume
// true), or refuses.
func planMigration(dir, to string, c dirContents) (resume bool, err error) {
	from := otherStore(to)
	has := map[string]bool{LogStoreBoltDB: c.bolt, LogStoreWAL: c.wal}
	leftover := func(store, suffix string) bool { return slices.Contains(c.leftovers, storeFile(store)+suffix) }
	switch {
	case has[from] && has[to]:
		return false, fmt.Errorf("%w: %s holds both %s and %s; refusing to guess which is current "+
			"(move the one that is not aside)", ErrStoreConflict, dir, boltFile, walDir)
	case has[to]:
		return false, fmt.Errorf("%w: %s already uses %s (%s); nothing to do", ErrAlreadyOnStore, dir, to, displayName(to))
	case has[from] && (leftover(from, backupSuffix) || leftover(to, backupSuffix)):
		// Renaming the source would collide with, or pile up beside, the
		// backup an earlier migration kept.
		return false, fmt.Errorf("%w: %s still holds the backup of an earlier migration (%v); start the node "+
			"once, which removes it, or remove it by hand", ErrStoreConflict, dir, c.leftovers)
	case has[from]:
		return false, nil
	case leftover(from, backupSuffix) && leftover(to, tmpSuffix):
		return true, nil
	case leftover(to, backupSuffix) && leftover(from, tmpSuffix):
		return false, fmt.Errorf("%w: %s holds an unfinished migration to %s (%s%s and %s%s); "+
			"run migrate-store -to %s to finish it", ErrStoreConflict, dir, from,
			storeFile(to), backupSuffix, storeFile(from), tmpSuffix, from)
	case len(c.leftovers) > 0:
		return false, fmt.Errorf("%w: %s holds no %s and no %s/ but %v; rename the backup back "+
			"to its name without %s", ErrStoreConflict, dir, boltFile, walDir, c.leftovers, backupSuffix)
	}
	return false, fmt.Errorf("%w: %s holds neither %s nor %s/", ErrNoRaftState, dir, boltFile, walDir)
}

// run migrates a dir that holds only the source store.
func (m *migration) run(ctx context.Context, rep *MigrateReport) error {
	srcPath := filepath.Join(m.dir, storeFile(rep.From))
	tmpPath := filepath.Join(m.dir, storeFile(m.to)+tmpSuffix)
	// A copy already there is from a run that died before it was verified
	// and renamed: never trusted, always redone.
	if err := os.RemoveAll(tmpPath); err != nil {
		return fmt.Errorf("raftnode: remove stale copy %s: %w", tmpPath, err)
	}
	src, err := m.open(rep.From, srcPath)
	if err != nil {
		return err
	}
	closeSrc := sync.OnceValue(src.Close)
	defer func() { _ = closeSrc() }()
	m.progress(fmt.Sprintf("copying %s to %s", srcPath, tmpPath))
	if err := m.copyInto(ctx, src, tmpPath); err != nil {
		return m.discard(tmpPath, err)
	}
	m.progress("verifying " + tmpPath + " against " + srcPath)
	if err := m.verifyAt(ctx, src, srcPath, tmpPath, rep); err != nil {
		return m.discard(tmpPath, err)
	}
	// The source's files are renamed next; close them first so no handle
	// outlives its name.
	if err := closeSrc(); err != nil {
		return m.discard(tmpPath, fmt.Errorf("raftnode: close %s: %w", srcPath, err))
	}
	return m.swap(srcPath, rep.Backup, tmpPath)
}

// resume finishes a migration that stopped between its renames: the dir
// holds <source>.backup and <target>.tmp. The copy was verified before the
// first rename, but it is verified again: nothing else vouches for it now.
func (m *migration) resume(ctx context.Context, rep *MigrateReport) error {
	tmpPath := filepath.Join(m.dir, storeFile(m.to)+tmpSuffix)
	m.progress(fmt.Sprintf("resuming an interrupted migration: %s and %s found", rep.Backup, tmpPath))
	src, err := m.open(rep.From, rep.Backup)
	if err != nil {
		return err
	}
	defer func() { _ = src.Close() }()
	m.progress("verifying " + tmpPath + " against " + rep.Backup)
	if err := m.verifyAt(ctx, src, rep.Backup, tmpPath, rep); err != nil {
		return fmt.Errorf("%w; the old store is intact: rename %s back to %s to keep it", err,
			rep.Backup, storeFile(rep.From))
	}
	target := filepath.Join(m.dir, storeFile(m.to))
	if err := os.Rename(tmpPath, target); err != nil {
		return fmt.Errorf("raftnode: rename %s to %s: %w", tmpPath, target, err)
	}
	return m.syncDir()
}

// open opens the store of kind store at path.
func (m *migration) open(store, path string) (logStableStore, error) {
	if store == LogStoreBoltDB {
		return openBolt(path)
	}
	s, _, err := openWAL(path, m.segmentSize, hclog.NewNullLogger(), nil)
	return s, err
}

// copyInto creates the store m.to at tmpPath and copies src's log and
// stable state into it, then makes every file of it durable.
func (m *migration) copyInto(ctx context.Context, src logStableStore, tmpPath string) (err error) {
	dst, err := m.open(m.to, tmpPath)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := dst.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("raftnode: close %s: %w", tmpPath, cerr)
		}
	}()
	last, err := src.LastIndex()
	if err != nil {
		return fmt.Errorf("raftnode: read last index: %w", err)
	}
	// CopyLogs would try to read index 0 of an empty log: a node whose log
	// is all in a snapshot has only stable state to copy.
	if last > 0 {
		err = withProgress(m.progress, func(ch chan<- string) error {
			return migrate.CopyLogs(ctx, dst, src, migrateBatchBytes, ch)
		})
		if err != nil {
			return fmt.Errorf("raftnode: copy log: %w", err)
		}
	}
	err = withProgress(m.progress, func(ch chan<- string) error {
		return migrate.CopyStable(ctx, dst, lenientStable{src}, nil, nil, ch)
	})
	if err != nil {
		return fmt.Errorf("raftnode: copy stable state: %w", err)
	}
	if m.afterCopy != nil {
		return m.afterCopy(dst)
	}
	return nil
}

// verifyAt opens the copy at tmpPath afresh (reading back what is on disk,
// not what a still-open store may cache), makes it durable, and compares it
// with src, filling rep's counts.
func (m *migration) verifyAt(ctx context.Context, src logStableStore, srcPath, tmpPath string, rep *MigrateReport) error {
	if err := syncTree(tmpPath); err != nil {
		return err
	}
	dst, err := m.open(m.to, tmpPath)
	if err != nil {
		return err
	}
	sum, verr := verifyCopy(ctx, src, dst)
	if err := dst.Close(); err != nil && verr == nil {
		verr = fmt.Errorf("raftnode: close %s: %w", tmpPath, err)
	}
	if verr != nil {
		return fmt.Errorf("%w (%s against %s)", verr, tmpPath, srcPath)
	}
	rep.FirstIndex, rep.LastIndex, rep.Entries, rep.Bytes = sum.first, sum.last, sum.entries, sum.bytes
	m.progress(fmt.Sprintf("verified %d entries [%d, %d] and the stable state", sum.entries, sum.first, sum.last))
	return nil
}

// swap replaces the source with the verified copy: source -> backup, then
// copy -> target, with the dir synced after each so no crash can make the
// second rename durable without the first (that would leave both stores).
func (m *migration) swap(srcPath, backup, tmpPath string) error {
	if err := os.Rename(srcPath, backup); err != nil {
		return m.discard(tmpPath, fmt.Errorf("raftnode: rename %s to %s: %w", srcPath, backup, err))
	}
	if err := m.syncDir(); err != nil {
		return err
	}
	m.progress(fmt.Sprintf("renamed %s to %s", srcPath, backup))
	if m.betweenRenames != nil {
		if err := m.betweenRenames(); err != nil {
			return err
		}
	}
	target := filepath.Join(m.dir, storeFile(m.to))
	if err := os.Rename(tmpPath, target); err != nil {
		return fmt.Errorf("raftnode: rename %s to %s: %w (run migrate-store again to finish)", tmpPath, target, err)
	}
	m.progress(fmt.Sprintf("renamed %s to %s", tmpPath, target))
	return m.syncDir()
}

// discard removes a copy that failed, so only the untouched source
// remains, and returns cause.
func (m *migration) discard(tmpPath string, cause error) error {
	if err := os.RemoveAll(tmpPath); err != nil {
		return fmt.Errorf("%w (and removing %s failed: %v)", cause, tmpPath, err)
	}
	return cause
}

// syncDir makes renames in the data dir durable.
func (m *migration) syncDir() error {
	if err := syncPath(m.dir); err != nil {
		return fmt.Errorf("raftnode: sync data dir: %w", err)
	}
	return nil
}

// syncTree fsyncs path and, if it is a directory, everything under it:
// the stores sync their data as they write, but not necessarily the
// directory entries of the files they created.
func syncTree(path string) error {
	err := filepath.WalkDir(path, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return syncPath(p)
	})
	if err != nil {
		return fmt.Errorf("raftnode: sync %s: %w", path, err)
	}
	return nil
}

// syncPath fsyncs one file or directory.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	serr := f.Sync()
	if cerr := f.Close(); serr == nil {
		serr = cerr
	}
	return serr
}

// withProgress runs f with a channel whose messages go to progress, and
// returns once f has returned and every message it sent has been passed
// on. f must close the channel, as raft-wal's migrate functions do.
func withProgress(progress func(string), f func(chan<- string) error) error {
	ch := make(chan string, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg := range ch {
			progress(msg)
		}
	}()
	err := f(ch)
	<-done
	return err
}
