package raftnode

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/clusteragent/agent/raftnode/raftnodetest"
)

// migrateTestSegment keeps the WAL segments tests create small.
const migrateTestSegment = 256 << 10

// migrateForTest runs a migration with small WAL segments and no hooks.
func migrateForTest(t *testing.T, dir, to string, hooks migration) (MigrateReport, error) {
	t.Helper()
	hooks.dir, hooks.to, hooks.segmentSize = dir, to, migrateTestSegment
	hooks.progress = func(msg string) { t.Log(msg) }
	return migrateStore(ctxT(t), hooks)
}

// stoppedNode is what a node left on disk when it stopped.
type stoppedNode struct {
	opts                Options
	lastIndex, lastTerm uint64
	applied             int // commands in its FSM
}

// runAndStop runs a single-node cluster on store, commits commands on both
// sides of a snapshot (so the log starts after index 1), and stops it.
func runAndStop(t *testing.T, store string) stoppedNode {
	t.Helper()
	o := baseOptions(t, "m")
	o.LogStore = store
	o.BootstrapPreferred = true
	o.TrailingLogs = 4 // the snapshot compacts the log's head away
	n := startNode(t, o)
	waitLeader(t, n)
	applyN(t, n, "before", 20)
	if err := n.Raft().Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	applyN(t, n, "after", 10)
	st := n.Status()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	return stoppedNode{opts: o, lastIndex: st.LastLogIndex, lastTerm: st.LastLogTerm, applied: 30}
}

// restart opens a new node on s's data dir, asking for the store it had
// before (existing state must win), with a fresh FSM.
func (s stoppedNode) restart(t *testing.T) *testNode {
	t.Helper()
	o := s.opts
	o.Listener = listen(t)
	o.FSM = raftnodetest.NewFSM()
	return startNode(t, o)
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return err == nil
}

// TestMigrateStoreBothWays migrates a stopped node each way and restarts
// it: it must run on the new store with its whole log, term and FSM state,
// and the backup must go once it has started.
func TestMigrateStoreBothWays(t *testing.T) {
	for _, from := range []string{LogStoreBoltDB, LogStoreWAL} {
		to := otherStore(from)
		t.Run(from+"-to-"+to, func(t *testing.T) {
			t.Parallel()
			s := runAndStop(t, from)
			dir := s.opts.DataDir
			rep, err := migrateForTest(t, dir, to, migration{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.From != from || rep.To != to || rep.LastIndex != s.lastIndex || rep.FirstIndex <= 1 ||
				rep.Entries != rep.LastIndex-rep.FirstIndex+1 || rep.Bytes <= 0 || rep.Resumed {
				t.Fatalf("report %+v; node stopped at index %d", rep, s.lastIndex)
			}
			if exists(t, filepath.Join(dir, storeFile(from))) || !exists(t, filepath.Join(dir, storeFile(to))) ||
				!exists(t, rep.Backup) || exists(t, filepath.Join(dir, storeFile(to)+tmpSuffix)) {
				t.Fatalf("data dir after migration: %v", listDir(t, dir))
			}

			r := s.restart(t)
			if got := r.LogStore(); got != to {
				t.Fatalf("LogStore() = %q after migrating to %q", got, to)
			}
			var last raft.Log
			if err := r.store.store.GetLog(s.lastIndex, &last); err != nil || last.Term != s.lastTerm {
				t.Fatalf("entry %d after restart: term %d (%v), want term %d", s.lastIndex, last.Term, err, s.lastTerm)
			}
			waitLeader(t, r)
			waitApplied(t, s.applied, r) // the snapshot's 20, then the log's 10
			if got := r.fsm.Entries(); string(got[0].Data) != "before-0" || string(got[29].Data) != "after-9" {
				t.Fatalf("FSM after restart: first %q, last %q", got[0].Data, got[29].Data)
			}
			if exists(t, rep.Backup) {
				t.Fatalf("backup %s still there after a successful start", rep.Backup)
			}
			applyN(t, r, "migrated", 3) // and it keeps working
		})
	}
}

// TestMigrateStoreRefusals: every case where there is nothing safe to do
// fails with its own error and changes nothing.
func TestMigrateStoreRefusals(t *testing.T) {
	t.Run("node running", func(t *testing.T) {
		o := baseOptions(t, "busy")
		o.BootstrapPreferred = true
		n := startNode(t, o)
		waitLeader(t, n)
		_, err := migrateForTest(t, o.DataDir, otherStore(n.LogStore()), migration{})
		if !errors.Is(err, ErrDataDirInUse) {
			t.Fatalf("migrating a running node's dir: %v, want ErrDataDirInUse", err)
		}
		if exists(t, filepath.Join(o.DataDir, storeFile(otherStore(n.LogStore()))+tmpSuffix)) {
			t.Fatal("a copy was started in a running node's dir")
		}
	})
	t.Run("no state", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := migrateForTest(t, dir, LogStoreWAL, migration{}); !errors.Is(err, ErrNoRaftState) {
			t.Fatalf("empty dir: %v, want ErrNoRaftState", err)
		}
		missing := filepath.Join(dir, "missing")
		if _, err := migrateForTest(t, missing, LogStoreWAL, migration{}); !errors.Is(err, ErrNoRaftState) {
			t.Fatalf("missing dir: %v, want ErrNoRaftState", err)
		}
		if exists(t, missing) {
			t.Fatal("migrating a missing dir created it")
		}
	})
	t.Run("already on target", func(t *testing.T) {
		s := runAndStop(t, LogStoreWAL)
		_, err := migrateForTest(t, s.opts.DataDir, LogStoreWAL, migration{})
		if !errors.Is(err, ErrAlreadyOnStore) || !strings.Contains(err.Error(), "nothing to do") {
			t.Fatalf("already on wal: %v, want ErrAlreadyOnStore", err)
		}
	})
	t.Run("both stores", func(t *testing.T) {
		s := runAndStop(t, LogStoreBoltDB)
		if err := os.Mkdir(filepath.Join(s.opts.DataDir, walDir), 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := migrateForTest(t, s.opts.DataDir, LogStoreWAL, migration{})
		if !errors.Is(err, ErrStoreConflict) {
			t.Fatalf("both stores: %v, want ErrStoreConflict", err)
		}
	})
	t.Run("bad target", func(t *testing.T) {
		if _, err := migrateForTest(t, t.TempDir(), "rocksdb", migration{}); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("-to rocksdb: %v, want ErrInvalidArgument", err)
		}
	})
}

func TestPlanMigration(t *testing.T) {
	cases := map[string]struct {
		to       string
		contents dirContents
		resume   bool
		err      error
	}{
		"fresh to wal":           {LogStoreWAL, dirContents{bolt: true}, false, nil},
		"fresh, stale copy":      {LogStoreWAL, dirContents{bolt: true, leftovers: []string{"wal.tmp"}}, false, nil},
		"fresh to boltdb":        {LogStoreBoltDB, dirContents{wal: true}, false, nil},
		"resume to wal":          {LogStoreWAL, dirContents{leftovers: []string{"raft.db.backup", "wal.tmp"}}, true, nil},
		"resume to boltdb":       {LogStoreBoltDB, dirContents{leftovers: []string{"raft.db.tmp", "wal.backup"}}, true, nil},
		"resume asked backwards": {LogStoreBoltDB, dirContents{leftovers: []string{"raft.db.backup", "wal.tmp"}}, false, ErrStoreConflict},
		"only a backup":          {LogStoreWAL, dirContents{leftovers: []string{"raft.db.backup"}}, false, ErrStoreConflict},
		"earlier backup kept":    {LogStoreWAL, dirContents{bolt: true, leftovers: []string{"wal.backup"}}, false, ErrStoreConflict},
		"already on target":      {LogStoreWAL, dirContents{wal: true, leftovers: []string{"raft.db.backup"}}, false, ErrAlreadyOnStore},
		"both":                   {LogStoreWAL, dirContents{bolt: true, wal: true}, false, ErrStoreConflict},
		"nothing":                {LogStoreWAL, dirContents{}, false, ErrNoRaftState},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resume, err := planMigration("/data", tc.to, tc.contents)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) || resume != tc.resume {
				t.Fatalf("planMigration = %v, %v; want %v, %v", resume, err, tc.resume, tc.err)
			}
		})
	}
}

// errCrash stands for the process dying at a hook.
var errCrash = errors.New("simulated crash")

// TestMigrateStoreResumes: a run that dies between its two renames leaves
// a dir no node starts on; running the migration again finishes it.
func TestMigrateStoreResumes(t *testing.T) {
	s := runAndStop(t, LogStoreBoltDB)
	dir := s.opts.DataDir
	_, err := migrateForTest(t, dir, LogStoreWAL, migration{betweenRenames: func() error { return errCrash }})
	if !errors.Is(err, errCrash) {
		t.Fatalf("interrupted migration: %v", err)
	}
	if got := listDir(t, dir); !strings.Contains(got, "raft.db.backup") || !strings.Contains(got, "wal.tmp") ||
		strings.Contains(got, "raft.db ") || strings.Contains(got, "wal ") {
		t.Fatalf("data dir between the renames: %s", got)
	}
	o := s.opts
	o.Listener = listen(t)
	if _, err := NewNode(o); !errors.Is(err, ErrStoreConflict) || !strings.Contains(err.Error(), "raft.db.backup") {
		t.Fatalf("NewNode between the renames: %v, want ErrStoreConflict naming raft.db.backup", err)
	}
	_ = o.Listener.Close()

	rep, err := migrateForTest(t, dir, LogStoreWAL, migration{})
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if !rep.Resumed || rep.LastIndex != s.lastIndex || rep.Entries == 0 {
		t.Fatalf("resume report %+v; node stopped at %d", rep, s.lastIndex)
	}
	r := s.restart(t)
	if r.LogStore() != LogStoreWAL {
		t.Fatalf("LogStore() = %q after the resumed migration", r.LogStore())
	}
	waitLeader(t, r)
	waitApplied(t, s.applied, r)
}

// TestMigrateStoreVerifyFailure: a copy that differs from its source is
// caught, removed, and the source stays the store a node starts on.
func TestMigrateStoreVerifyFailure(t *testing.T) {
	corrupt := map[string]func(dst logStableStore) error{
		"entry data": func(dst logStableStore) error {
			last, err := dst.LastIndex()
			if err != nil {
				return err
			}
			var l raft.Log
			if err := dst.GetLog(last, &l); err != nil {
				return err
			}
			if err := dst.DeleteRange(last, last); err != nil {
				return err
			}
			l.Data = append(l.Data, '!')
			return dst.StoreLog(&l)
		},
		"term": func(dst logStableStore) error {
			term, err := dst.GetUint64([]byte("CurrentTerm"))
			if err != nil {
				return err
			}
			return dst.SetUint64([]byte("CurrentTerm"), term+1)
		},
	}
	for name, hook := range corrupt {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := runAndStop(t, LogStoreBoltDB)
			dir := s.opts.DataDir
			_, err := migrateForTest(t, dir, LogStoreWAL, migration{afterCopy: hook})
			if !errors.Is(err, ErrMigrationMismatch) {
				t.Fatalf("corrupted copy: %v, want ErrMigrationMismatch", err)
			}
			if got := listDir(t, dir); !strings.Contains(got, "raft.db ") || strings.Contains(got, "wal") ||
				strings.Contains(got, "backup") {
				t.Fatalf("data dir after a failed verification: %s", got)
			}
			r := s.restart(t)
			if r.LogStore() != LogStoreBoltDB {
				t.Fatalf("LogStore() = %q, want the untouched boltdb", r.LogStore())
			}
			waitLeader(t, r)
			waitApplied(t, s.applied, r)
		})
	}
}

// TestMigrateStoreEveryField copies entries with every field set, and a
// stable store where the vote keys were never written (a node that never
// voted), from BoltDB to the WAL and back.
func TestMigrateStoreEveryField(t *testing.T) {
	dir := t.TempDir()
	src, err := openBolt(filepath.Join(dir, boltFile))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 2, 29, 12, 0, 0, 123456789, time.FixedZone("X", 3600))
	var logs []*raft.Log
	for i := uint64(7); i <= 12; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 3, Type: raft.LogCommand, Data: []byte{byte(i)},
			Extensions: []byte("ext"), AppendedAt: at.Add(time.Duration(i))})
	}
	logs[0].Type, logs[0].Data = raft.LogConfiguration, nil
	if err := src.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := src.SetUint64([]byte("CurrentTerm"), 3); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{LogStoreWAL, LogStoreBoltDB} {
		rep, err := migrateForTest(t, dir, to, migration{})
		if err != nil {
			t.Fatalf("to %s: %v", to, err)
		}
		if rep.FirstIndex != 7 || rep.LastIndex != 12 || rep.Entries != 6 {
			t.Fatalf("to %s: report %+v", to, rep)
		}
		// The next migration back needs the backup gone, as a start would.
		if err := os.RemoveAll(rep.Backup); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrateStoreCancelled: a cancelled run removes its copy and leaves
// the source as the only store.
func TestMigrateStoreCancelled(t *testing.T) {
	dir := t.TempDir()
	src, err := openBolt(filepath.Join(dir, boltFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := src.StoreLogs([]*raft.Log{{Index: 1, Term: 1}, {Index: 2, Term: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = migrateStore(ctx, migration{dir: dir, to: LogStoreWAL, segmentSize: migrateTestSegment})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled migration: %v", err)
	}
	if got := listDir(t, dir); got != "LOCK raft.db " {
		t.Fatalf("data dir after a cancelled migration: %q", got)
	}
}

// TestVerifyCopyDetectsDifferences compares stores directly.
func TestVerifyCopyDetectsDifferences(t *testing.T) {
	dir := t.TempDir()
	open := func(name string) logStableStore {
		s, _, err := openWAL(filepath.Join(dir, name), migrateTestSegment, hclog.NewNullLogger(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a, b := open("a"), open("b")
	put := func(s logStableStore, logs ...raft.Log) {
		for i := range logs {
			if err := s.StoreLog(&logs[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(a, raft.Log{Index: 1, Term: 1, Data: []byte("x")}, raft.Log{Index: 2, Term: 1})
	put(b, raft.Log{Index: 1, Term: 1, Data: []byte("x")})
	if _, err := verifyCopy(context.Background(), a, b); !errors.Is(err, ErrMigrationMismatch) {
		t.Fatalf("shorter copy: %v", err)
	}
	put(b, raft.Log{Index: 2, Term: 2})
	if _, err := verifyCopy(context.Background(), a, b); !errors.Is(err, ErrMigrationMismatch) ||
		!strings.Contains(err.Error(), "term") {
		t.Fatalf("other term: %v", err)
	}
	if err := a.Set([]byte("LastVoteCand"), []byte("n1")); err != nil {
		t.Fatal(err)
	}
	if err := sameStable(a, b); !errors.Is(err, ErrMigrationMismatch) {
		t.Fatalf("other vote: %v", err)
	}
}

// listDir names the entries of dir, each followed by a space.
func listDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e.Name() + " ")
	}
	return b.String()
}
