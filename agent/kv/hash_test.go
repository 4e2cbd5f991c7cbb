package kv

import (
	"testing"
	"time"
)

// TestHashCoversTombstonesAndLeases: two stores whose live keys are the
// same, indexes included, but whose tombstones, horizon, leases or lease
// attachments differ must hash differently, or the "same state on every
// node" check would miss a divergence that changes what later commands do
// (a blocking read woken or not, a key deleted by an expiry or not).
func TestHashCoversTombstonesAndLeases(t *testing.T) {
	small := Limits{MaxKeyBytes: 64, MaxValueBytes: 64, MaxTombstones: 1}
	type step = func(t testing.TB) []byte
	put := func(k string) step { return func(t testing.TB) []byte { return putData(t, k, "v", nil) } }
	del := func(k string) step { return func(t testing.TB) []byte { return deleteData(t, k, nil) } }
	grant := func(ttl time.Duration) step { return func(t testing.TB) []byte { return grantData(t, ttl) } }
	attach := func(k string, id uint64) step {
		return func(t testing.TB) []byte { return putLeaseData(t, k, "v", id) }
	}
	tests := map[string]struct {
		limits Limits
		a, b   []step
	}{
		"tombstone key":      {DefaultLimits(), []step{put("a"), put("x"), del("x")}, []step{put("a"), put("y"), del("y")}},
		"tombstone or none":  {DefaultLimits(), []step{put("a"), put("x"), del("x")}, []step{put("a"), del("never"), del("never")}},
		"horizon":            {small, []step{put("x"), put("y"), del("x"), del("y")}, []step{put("x"), del("x"), put("y"), del("y")}},
		"lease TTL":          {DefaultLimits(), []step{put("a"), grant(10 * time.Second)}, []step{put("a"), grant(20 * time.Second)}},
		"lease or none":      {DefaultLimits(), []step{put("a"), grant(10 * time.Second)}, []step{put("a"), del("never")}},
		"attached or not":    {DefaultLimits(), []step{grant(10 * time.Second), attach("a", 1)}, []step{grant(10 * time.Second), put("a")}},
		"attached elsewhere": {DefaultLimits(), []step{grant(time.Minute), grant(time.Minute), attach("a", 1)}, []step{grant(time.Minute), grant(time.Minute), attach("a", 2)}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a, b := NewStore(tc.limits), NewStore(tc.limits)
			for i, s := range tc.a {
				mustOK(t, a, uint64(i+1), s(t))
			}
			for i, s := range tc.b {
				mustOK(t, b, uint64(i+1), s(t))
			}
			// The live keys agree, so only the extra state can tell them apart.
			if ea, eb := a.List(""), b.List(""); !sameEntries(ea, eb) {
				t.Fatalf("test setup: live keys differ: %v vs %v", ea, eb)
			}
			if a.Hash() == b.Hash() {
				t.Fatal("the hashes are equal although the states differ")
			}
			// Equal states still hash equal: a snapshot round trip keeps it.
			c := NewStore(tc.limits)
			if err := restoreBytes(c, snapshotBytes(t, a)); err != nil {
				t.Fatal(err)
			}
			if c.Hash() != a.Hash() {
				t.Fatal("a restored copy hashes differently")
			}
		})
	}
}

func sameEntries(a, b []Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || string(a[i].Value) != string(b[i].Value) ||
			a[i].CreateIndex != b[i].CreateIndex || a[i].ModifyIndex != b[i].ModifyIndex {
			return false
		}
	}
	return true
}
