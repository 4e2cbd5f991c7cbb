package discovery

import (
	"testing"
	"time"
)

func TestNextRateState(t *testing.T) {
	t0 := time.Unix(1000, 0)
	logged := rateState{failing: true, lastKey: "a", lastAt: t0}
	cases := map[string]struct {
		s        rateState
		key      string
		now      time.Time
		want     bool
		wantSupp int
	}{
		"first failure":           {s: rateState{}, key: "a", now: t0, want: true},
		"same soon after":         {s: logged, key: "a", now: t0.Add(10 * time.Second), want: false, wantSupp: 1},
		"same after the interval": {s: logged, key: "a", now: t0.Add(time.Minute), want: true},
		"changed":                 {s: logged, key: "b", now: t0.Add(time.Second), want: true},
		"held back before":        {s: rateState{failing: true, lastKey: "a", lastAt: t0, suppressed: 4}, key: "a", now: t0.Add(time.Second), want: false, wantSupp: 5},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, next := nextRateState(tc.s, tc.key, tc.now, time.Minute)
			if got != tc.want {
				t.Fatalf("log = %v, want %v", got, tc.want)
			}
			if next.suppressed != tc.wantSupp || !next.failing {
				t.Errorf("next = %+v, want failing with %d held back", next, tc.wantSupp)
			}
			if got && (next.lastKey != tc.key || !next.lastAt.Equal(tc.now)) {
				t.Errorf("next = %+v, want the logged failure remembered", next)
			}
		})
	}
}
