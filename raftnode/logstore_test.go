package raftnode

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestChooseLogStore(t *testing.T) {
	cases := map[string]struct {
		requested string
		contents  dirContents
		want      string
		reason    string // substring of the reason
		err       error
	}{
		"new dir, default":            {"", dirContents{}, LogStoreWAL, "new data dir", nil},
		"new dir, wal":                {LogStoreWAL, dirContents{}, LogStoreWAL, "new data dir", nil},
		"new dir, boltdb":             {LogStoreBoltDB, dirContents{}, LogStoreBoltDB, "new data dir", nil},
		"raft.db wins over wal":       {LogStoreWAL, dirContents{bolt: true}, LogStoreBoltDB, "migrate-store -to wal", nil},
		"raft.db asked boltdb":        {LogStoreBoltDB, dirContents{bolt: true}, LogStoreBoltDB, "data dir holds raft.db", nil},
		"wal/ wins over boltdb":       {LogStoreBoltDB, dirContents{wal: true}, LogStoreWAL, "migrate-store -to boltdb", nil},
		"wal/ asked wal":              {LogStoreWAL, dirContents{wal: true}, LogStoreWAL, "data dir holds wal/", nil},
		"both stores":                 {LogStoreWAL, dirContents{bolt: true, wal: true}, "", "", ErrStoreConflict},
		"finished migration to wal":   {LogStoreWAL, dirContents{wal: true, leftovers: []string{"raft.db.backup"}}, LogStoreWAL, "holds wal/", nil},
		"only a backup":               {LogStoreWAL, dirContents{leftovers: []string{"raft.db.backup"}}, "", "", ErrStoreConflict},
		"half-finished migration":     {LogStoreWAL, dirContents{leftovers: []string{"raft.db.backup", "wal.tmp"}}, "", "", ErrStoreConflict},
		"unknown store":               {"rocksdb", dirContents{}, "", "", ErrInvalidOptions},
		"unknown store, state exists": {"rocksdb", dirContents{bolt: true}, "", "", ErrInvalidOptions},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := chooseLogStore(tc.requested, tc.contents)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.store != tc.want || !strings.Contains(got.reason, tc.reason) {
				t.Fatalf("got %+v, want store %s with reason containing %q", got, tc.want, tc.reason)
			}
		})
	}
}

// TestLogStoreFollowsTheDataDir opens a node on each store, then reopens
// its data dir asking for the other: the state on disk must win, and
// status and metrics must name it.
func TestLogStoreFollowsTheDataDir(t *testing.T) {
	for _, store := range []string{LogStoreWAL, LogStoreBoltDB} {
		t.Run(store, func(t *testing.T) {
			o := baseOptions(t, "s")
			o.LogStore = store
			o.BootstrapPreferred = true
			n := startNode(t, o)
			waitLeader(t, n)
			applyN(t, n, "k", 5)
			if got := n.Status().LogStore; got != store {
				t.Fatalf("Status().LogStore = %q, want %q", got, store)
			}
			if _, err := os.Stat(filepath.Join(o.DataDir, storeFile(store))); err != nil {
				t.Fatalf("%s missing: %v", storeFile(store), err)
			}
			if _, err := os.Stat(filepath.Join(o.DataDir, storeFile(otherStore(store)))); !os.IsNotExist(err) {
				t.Fatalf("%s exists beside %s (%v)", storeFile(otherStore(store)), storeFile(store), err)
			}
			if size := n.store.logSizeBytes(); size <= 0 {
				t.Fatalf("log size %v, want > 0", size)
			}
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}

			again := o
			again.Listener = listen(t)
			again.LogStore = otherStore(store)
			again.FSM = o.FSM // the recording FSM keeps counting from where it was
			r := startNode(t, again)
			if got := r.LogStore(); got != store {
				t.Fatalf("reopened with LogStore %q: opened %q, want the existing %q", again.LogStore, got, store)
			}
			waitLeader(t, r)
			if _, err := os.Stat(filepath.Join(o.DataDir, storeFile(otherStore(store)))); !os.IsNotExist(err) {
				t.Fatalf("reopening created %s (%v)", storeFile(otherStore(store)), err)
			}
		})
	}
}

// TestAmbiguousDataDirRefused: a dir holding both stores, or only a
// migration backup, is refused with a message naming the files, and
// nothing in it changes.
func TestAmbiguousDataDirRefused(t *testing.T) {
	for name, files := range map[string][]string{
		"both":        {boltFile, walDir + "/"},
		"only backup": {boltFile + backupSuffix, walDir + tmpSuffix + "/"},
	} {
		t.Run(name, func(t *testing.T) {
			o := baseOptions(t, "x")
			for _, f := range files {
				p := filepath.Join(o.DataDir, f)
				var err error
				if strings.HasSuffix(f, "/") {
					err = os.MkdirAll(p, 0o700)
				} else {
					err = os.WriteFile(p, []byte("not a database"), 0o600)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			_, err := NewNode(o)
			if !errors.Is(err, ErrStoreConflict) {
				t.Fatalf("NewNode: %v, want ErrStoreConflict", err)
			}
			for _, f := range files {
				if !strings.Contains(err.Error(), strings.TrimSuffix(f, "/")) {
					t.Errorf("error %q does not name %s", err, f)
				}
			}
		})
	}
}

// TestMigrationBackupRemovedAfterStart: the predecessor a migration kept is
// dropped once a node has started on the new store, and not before.
func TestMigrationBackupRemovedAfterStart(t *testing.T) {
	o := baseOptions(t, "m")
	o.BootstrapPreferred = true
	first := startNode(t, o)
	waitLeader(t, first)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// What a finished migration leaves: the new store, the old one's backup.
	backup := filepath.Join(o.DataDir, storeFile(otherStore(o.LogStore))+backupSuffix)
	if err := os.WriteFile(backup, []byte("old store"), 0o600); err != nil {
		t.Fatal(err)
	}
	again := o
	again.Listener = listen(t)
	r := startNode(t, again)
	waitLeader(t, r)
	if _, err := os.Stat(backup); !os.IsNotExist(err) {
		t.Fatalf("backup %s still present after a successful start (%v)", backup, err)
	}
}
