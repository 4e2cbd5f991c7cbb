package raftnode

import (
	"testing"

	"github.com/hashicorp/raft"
)

func TestConfigTracker(t *testing.T) {
	snaps := raft.NewInmemSnapshotStore()
	c := newConfigTracker(raft.NewInmemStore(), snaps)
	if got := c.configIndex(); got != 0 {
		t.Fatalf("empty log: index %d, want 0", got)
	}
	store := func(from, to uint64, configs ...uint64) {
		t.Helper()
		var logs []*raft.Log
		for i := from; i <= to; i++ {
			l := &raft.Log{Index: i, Term: 1, Type: raft.LogCommand}
			for _, ci := range configs {
				if ci == i {
					l.Type = raft.LogConfiguration
				}
			}
			logs = append(logs, l)
		}
		if err := c.StoreLogs(logs); err != nil {
			t.Fatal(err)
		}
	}
	step := func(what string, want uint64) {
		t.Helper()
		if got := c.configIndex(); got != want {
			t.Fatalf("%s: index %d, want %d", what, got, want)
		}
	}
	del := func(lo, hi uint64) {
		t.Helper()
		if err := c.DeleteRange(lo, hi); err != nil {
			t.Fatal(err)
		}
	}
	store(1, 10, 3, 7)
	step("two configurations in one batch", 7)
	store(11, 12)
	step("commands after it", 7)
	del(9, 12)
	step("a tail truncation after the configuration", 7)
	del(6, 8)
	step("a tail truncation removing the configuration rescans", 3)
	del(1, 4)
	step("head compaction past the configuration keeps it", 3)
	store(6, 6, 6)
	step("a new configuration", 6)

	// A fresh tracker over a log whose configuration lives in a snapshot.
	sink, err := snaps.Create(raft.SnapshotVersionMax, 20, 2, raft.Configuration{}, 15, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	fresh := newConfigTracker(raft.NewInmemStore(), snaps)
	if got := fresh.configIndex(); got != 15 {
		t.Fatalf("configuration only in the snapshot: index %d, want 15", got)
	}
}
