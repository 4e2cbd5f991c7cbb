package raftnode

import (
	"testing"

	"github.com/hashicorp/raft"
)

// TestLogStoreWrappersAnswerIsMonotonic: raft must learn through every
// wrapper that raft-wal cannot hold a gap, or a restored snapshot leaves
// one and the next append fails; BoltDB and the in-memory store can.
func TestLogStoreWrappersAnswerIsMonotonic(t *testing.T) {
	cache := func(s raft.LogStore) raft.LogStore {
		c, err := raft.NewLogCache(16, s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cases := map[string]struct {
		store raft.LogStore
		want  bool
	}{
		"wal":       {newConfigTracker(cache(&healingWAL{}), nil), true},
		"in memory": {newConfigTracker(cache(raft.NewInmemStore()), nil), false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m, ok := tc.store.(raft.MonotonicLogStore)
			if got := ok && m.IsMonotonic(); got != tc.want {
				t.Fatalf("IsMonotonic = %v, want %v", got, tc.want)
			}
		})
	}
}
