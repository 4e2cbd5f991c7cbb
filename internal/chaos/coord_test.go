package chaos

import (
	"strings"
	"testing"
	"time"
)

// matchViolations fails unless got has exactly one violation per want
// substring, in order.
func matchViolations(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d violations %q, want %d %q", len(got), got, len(want), want)
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Fatalf("violation %d = %q, want it to contain %q", i, got[i], want[i])
		}
	}
}

func TestCheckWatcher(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	acks := []ack{
		{Key: "k", Value: "a", Index: 5, At: at(1)},
		{Key: "k", Delete: true, Index: 8, At: at(3)},
		{Key: "k", Value: "b", Index: 12, At: at(5)},
		{Key: "k", Delete: true, Index: 20, At: at(6)}, // of an absent key, say: changes nothing visible
	}
	written := map[string]bool{"a": true, "b": true, "lost": true}
	found := func(sent int, index uint64, v string) watchObs {
		return watchObs{Sent: at(sent), Index: index, Found: true, Value: v, Modify: index}
	}
	absent := func(sent int, index uint64) watchObs { return watchObs{Sent: at(sent), Index: index} }
	tests := map[string]struct {
		obs  []watchObs
		want []string
	}{
		"every change, in order":         {obs: []watchObs{absent(0, 1), found(2, 5, "a"), absent(4, 8), found(6, 12, "b")}},
		"changes folded":                 {obs: []watchObs{absent(0, 1), found(6, 12, "b")}},
		"timeout answers again":          {obs: []watchObs{found(2, 5, "a"), found(2, 5, "a")}},
		"unacked value is a fate":        {obs: []watchObs{found(0, 3, "lost")}},
		"went back":                      {obs: []watchObs{found(6, 12, "b"), found(6, 5, "a")}, want: []string{"went back from index 12", `missed the put of "b"`}},
		"phantom value":                  {obs: []watchObs{found(2, 5, "zzz")}, want: []string{`value "zzz" was never written`}},
		"other value at an acked index":  {obs: []watchObs{found(2, 12, "a")}, want: []string{`was put of "b"`}},
		"absent at a put's index":        {obs: []watchObs{absent(2, 5)}, want: []string{"shows the key absent"}},
		"missed a put":                   {obs: []watchObs{found(2, 5, "a"), found(6, 5, "a")}, want: []string{`missed the put of "b" acknowledged at index 12`}},
		"same index other state":         {obs: []watchObs{found(2, 5, "a"), absent(2, 5)}, want: []string{"shows the key absent", "same index as the answer before"}},
		"modify differs from index":      {obs: []watchObs{{Sent: at(2), Index: 6, Found: true, Value: "a", Modify: 5}}, want: []string{"modify index 5 differs"}},
		"delete of an absent key unseen": {obs: []watchObs{found(7, 12, "b")}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			matchViolations(t, checkWatcher("k", tc.obs, acks, written), tc.want)
		})
	}
}

func TestCheckLeases(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	h := &leaseHistory{acked: map[uint64][]time.Time{7: {ms(0), ms(1500)}, 9: {ms(0)}}}
	read := func(lease uint64, sent, at int, found bool, revoked int) leaseRead {
		r := leaseRead{Lease: lease, Key: "chaos/lease/x", Sent: ms(sent), At: ms(at), Found: found, AttachedAt: ms(100)}
		if revoked > 0 {
			r.RevokedSent = ms(revoked)
		}
		return r
	}
	tests := map[string]struct {
		reads []leaseRead
		want  []string
	}{
		"present in its window":          {reads: []leaseRead{read(7, 200, 3000, true, 0)}},
		"absent after the window":        {reads: []leaseRead{read(7, 3400, 3600, false, 0)}},
		"absent after a revoke":          {reads: []leaseRead{read(9, 600, 700, false, 500)}},
		"absent inside the window":       {reads: []leaseRead{read(7, 2000, 3400, false, 0)}, want: []string{"100ms before the lease's last acknowledged renew + TTL"}},
		"renew acknowledged after read":  {reads: []leaseRead{read(7, 1900, 2100, false, 0)}, want: []string{"lease 7"}},
		"read before the attach ignored": {reads: []leaseRead{read(9, 50, 60, false, 0)}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h.reads = tc.reads
			matchViolations(t, checkLeases(h), tc.want)
		})
	}
}

func TestCheckLocks(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	tests := map[string]struct {
		holds []lockHold
		want  []string
	}{
		"one after the other":   {holds: []lockHold{{1, 10, s(0), s(3)}, {2, 20, s(3), s(5)}, {1, 30, s(6), s(7)}}},
		"recorded out of order": {holds: []lockHold{{2, 20, s(3), s(5)}, {1, 10, s(0), s(3)}}},
		"overlap": {holds: []lockHold{{1, 10, s(0), s(4)}, {2, 20, s(3), s(5)}},
			want: []string{"contender 2 acquired at index 20, 1s before contender 1's hold (index 10) ended"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			matchViolations(t, checkLocks(&leaseHistory{holds: tc.holds}), tc.want)
		})
	}
}
