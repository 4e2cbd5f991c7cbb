package agent

import (
	"reflect"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent/kv"
)

func TestDueLeases(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := map[string]struct {
		deadlines map[uint64]time.Time
		expiring  map[uint64]bool
		want      []uint64
	}{
		"none due":               {deadlines: map[uint64]time.Time{1: t0.Add(time.Second)}},
		"exactly at deadline":    {deadlines: map[uint64]time.Time{1: t0}},
		"past, sorted":           {deadlines: map[uint64]time.Time{9: t0.Add(-time.Second), 3: t0.Add(-time.Millisecond), 5: t0.Add(time.Second)}, want: []uint64{3, 9}},
		"already expiring":       {deadlines: map[uint64]time.Time{1: t0.Add(-time.Second)}, expiring: map[uint64]bool{1: true}},
		"nothing tracked at all": {},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := dueLeases(tc.deadlines, tc.expiring, t0); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestLeaseKeeperRules: full TTL from the start of a term, renew moves the
// deadline, a lease decided expiring can no longer be renewed, and an
// inactive keeper (not the leader) renews nothing.
func TestLeaseKeeperRules(t *testing.T) {
	var k leaseKeeper
	t0 := time.Unix(1000, 0)
	if active, _ := k.renew(1, time.Second, t0); active {
		t.Fatal("an inactive keeper renewed")
	}
	leases := []kv.Lease{{ID: 1, TTL: 2 * time.Second}, {ID: 2, TTL: 2 * time.Second}}
	k.start(t0, leases)
	if due := k.sync(t0.Add(2*time.Second), leases); len(due) != 0 {
		t.Fatalf("due at exactly the TTL: %v", due)
	}
	if _, ok := k.renew(2, 2*time.Second, t0.Add(time.Second)); !ok {
		t.Fatal("renew refused")
	}
	if due := k.sync(t0.Add(2500*time.Millisecond), leases); !reflect.DeepEqual(due, []uint64{1}) {
		t.Fatalf("due %v, want [1]", due)
	}
	if active, ok := k.renew(1, 2*time.Second, t0.Add(2600*time.Millisecond)); !active || ok {
		t.Fatal("a lease being expired was renewed")
	}
	if rem, _ := k.remaining(2, 2*time.Second, t0.Add(2500*time.Millisecond)); rem != 500*time.Millisecond {
		t.Fatalf("remaining %s", rem)
	}
	// A lease granted since is adopted with its full TTL; a revoked one forgotten.
	later := []kv.Lease{{ID: 2, TTL: 2 * time.Second}, {ID: 7, TTL: time.Second}}
	if due := k.sync(t0.Add(2900*time.Millisecond), later); len(due) != 0 {
		t.Fatalf("due %v", due)
	}
	if rem, _ := k.remaining(7, time.Second, t0.Add(3400*time.Millisecond)); rem != 500*time.Millisecond {
		t.Fatalf("lease 7 remaining %s, want 500ms", rem)
	}
	k.stop()
	if _, active := k.remaining(2, time.Second, t0); active {
		t.Fatal("stopped keeper still active")
	}
}

// TestLeaseKeeperRestart: after a restore the leader gives every restored
// lease its full TTL from then, replacing the deadlines of the old state;
// a keeper that is not active (a follower) stays inactive.
func TestLeaseKeeperRestart(t *testing.T) {
	var k leaseKeeper
	t0 := time.Unix(1000, 0)
	restored := []kv.Lease{{ID: 1, TTL: 10 * time.Second}}
	k.restart(t0, restored)
	if _, active := k.remaining(1, 10*time.Second, t0); active {
		t.Fatal("restart activated an inactive keeper")
	}
	k.start(t0, []kv.Lease{{ID: 1, TTL: 2 * time.Second}, {ID: 3, TTL: 2 * time.Second}})
	k.restart(t0.Add(time.Second), restored)
	if rem, _ := k.remaining(1, 10*time.Second, t0.Add(time.Second)); rem != 10*time.Second {
		t.Fatalf("restored lease 1 has %s left, want its full 10s", rem)
	}
	if due := k.sync(t0.Add(5*time.Second), restored); len(due) != 0 {
		t.Fatalf("due %v: the old state's 2s deadline survived the restore", due)
	}
}
