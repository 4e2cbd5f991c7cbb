package kv

import (
	"bytes"
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"
)

func TestWakeIndex(t *testing.T) {
	tests := map[string]struct {
		after, changed, horizon uint64
		index                   uint64
		ready                   bool
	}{
		"index 0 answers at once":            {after: 0, changed: 7, index: 7, ready: true},
		"index 0 of a missing key is 1":      {after: 0, changed: 0, index: 1, ready: true},
		"unchanged blocks":                   {after: 7, changed: 7, index: 7},
		"changed answers":                    {after: 7, changed: 9, index: 9, ready: true},
		"client ahead blocks":                {after: 12, changed: 9, index: 9},
		"below the horizon answers":          {after: 3, changed: 2, horizon: 5, index: 5, ready: true},
		"below the horizon, changed later":   {after: 3, changed: 8, horizon: 5, index: 8, ready: true},
		"at the horizon blocks":              {after: 5, changed: 2, horizon: 5, index: 2},
		"missing key never changed blocks":   {after: 1, changed: 0, index: 1},
		"horizon answer is passed back ok":   {after: 5, changed: 0, horizon: 5, index: 1},
		"above the horizon, changed answers": {after: 6, changed: 7, horizon: 5, index: 7, ready: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			idx, ready := WakeIndex(tc.after, tc.changed, tc.horizon)
			if idx != tc.index || ready != tc.ready {
				t.Fatalf("WakeIndex(%d, %d, %d) = %d, %v; want %d, %v", tc.after, tc.changed, tc.horizon, idx, ready, tc.index, tc.ready)
			}
		})
	}
}

// waitAsync runs Store.Wait in the background and delivers its index.
func waitAsync(s *Store, target Target, after uint64, d time.Duration) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		_, idx := s.Wait(ctx, target, after, true)
		out <- idx
	}()
	return out
}

// expectWake fails unless ch delivers want within a generous deadline.
func expectWake(t *testing.T, ch <-chan uint64, want uint64) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("woke with index %d, want %d", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("did not wake (want index %d)", want)
	}
}

// expectBlocked fails if ch delivers before more writes prove it would
// have by now: the writes to other keys are applied synchronously, so a
// watcher they woke by mistake has had every chance to answer.
func expectBlocked(t *testing.T, ch <-chan uint64) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("woke with index %d on an unrelated change", got)
	default:
	}
}

func TestWaitKey(t *testing.T) {
	s := NewStore(DefaultLimits())
	mustOK(t, s, 1, putData(t, "a", "1", nil))
	mustOK(t, s, 2, putData(t, "b", "1", nil))
	w := waitAsync(s, Target{Key: "a"}, 1, time.Minute)
	mustOK(t, s, 3, putData(t, "b", "2", nil))
	mustOK(t, s, 4, putData(t, "ab", "2", nil))
	mustOK(t, s, 5, deleteData(t, "b", nil))
	expectBlocked(t, w)
	mustOK(t, s, 6, putData(t, "a", "2", nil))
	expectWake(t, w, 6)

	w = waitAsync(s, Target{Key: "a"}, 6, time.Minute)
	mustOK(t, s, 7, deleteData(t, "a", nil))
	expectWake(t, w, 7)
	// A missing key: a put creates it and wakes the watcher.
	w = waitAsync(s, Target{Key: "new/key"}, 7, time.Minute)
	mustOK(t, s, 8, putData(t, "new/other", "x", nil))
	expectBlocked(t, w)
	mustOK(t, s, 9, putData(t, "new/key", "x", nil))
	expectWake(t, w, 9)
}

func TestWaitPrefixSeesDelete(t *testing.T) {
	s := NewStore(DefaultLimits())
	mustOK(t, s, 1, putData(t, "svc/a", "1", nil))
	mustOK(t, s, 2, putData(t, "svc/b", "1", nil))
	mustOK(t, s, 3, putData(t, "other", "1", nil))
	w := waitAsync(s, Target{Key: "svc/", Prefix: true}, 3, time.Minute)
	mustOK(t, s, 4, putData(t, "other", "2", nil))
	expectBlocked(t, w)
	mustOK(t, s, 5, deleteData(t, "svc/a", nil))
	expectWake(t, w, 5)
	// The delete stays visible to a watcher that starts later.
	v, idx := s.Wait(context.Background(), Target{Key: "svc/", Prefix: true}, 3, true)
	if idx != 5 || len(v.List("svc/")) != 1 {
		t.Fatalf("late watcher: index %d, %d keys", idx, len(v.List("svc/")))
	}
}

func TestWaitTimesOutWithCurrentIndex(t *testing.T) {
	s := NewStore(DefaultLimits())
	mustOK(t, s, 1, putData(t, "a", "1", nil))
	expectWake(t, waitAsync(s, Target{Key: "a"}, 1, 50*time.Millisecond), 1)
}

// TestWaitBelowHorizon: a watcher holding an index from before compacted
// deletes is answered at once with an index at the horizon, and blocks
// when it passes that back.
func TestWaitBelowHorizon(t *testing.T) {
	s := NewStore(Limits{MaxKeyBytes: 64, MaxValueBytes: 64, MaxTombstones: 1})
	mustOK(t, s, 1, putData(t, "a", "1", nil))
	mustOK(t, s, 2, putData(t, "b", "1", nil))
	mustOK(t, s, 3, deleteData(t, "a", nil))
	mustOK(t, s, 4, deleteData(t, "b", nil)) // drops a's tombstone: horizon 3
	_, idx := s.Wait(context.Background(), Target{Key: "a"}, 1, true)
	if idx != 3 {
		t.Fatalf("index %d, want the horizon 3", idx)
	}
	w := waitAsync(s, Target{Key: "a"}, idx, time.Minute)
	mustOK(t, s, 5, putData(t, "c", "1", nil))
	expectBlocked(t, w)
	mustOK(t, s, 6, putData(t, "a", "again", nil))
	expectWake(t, w, 6)
}

func TestWaitWakesOnRestore(t *testing.T) {
	s := NewStore(DefaultLimits())
	mustOK(t, s, 1, putData(t, "a", "1", nil))
	var buf bytes.Buffer
	if err := writeSnapshot(&buf, s.View().st); err != nil {
		t.Fatal(err)
	}
	mustOK(t, s, 2, putData(t, "a", "2", nil))
	w := waitAsync(s, Target{Key: "a"}, 2, time.Minute)
	if err := restoreBytes(s, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	expectWake(t, w, 1) // back to the snapshot's state, lower than 2
}

// TestWatchChannelsStayOpenOnOtherWrites checks the mechanism itself: the
// channel a key or prefix watcher sleeps on is not closed by writes
// elsewhere, so such writes cost a sleeping watcher nothing at all.
func TestWatchChannelsStayOpenOnOtherWrites(t *testing.T) {
	s := NewStore(DefaultLimits())
	mustOK(t, s, 1, putData(t, "app/a", "1", nil))
	mustOK(t, s, 2, putData(t, "app/b", "1", nil))
	mustOK(t, s, 3, putData(t, "db/x", "1", nil))
	v := s.View()
	key, prefix := v.watch(Target{Key: "app/a"}), v.watch(Target{Key: "app/", Prefix: true})
	mustOK(t, s, 4, putData(t, "db/x", "2", nil))
	mustOK(t, s, 5, putData(t, "db/y", "1", nil))
	mustOK(t, s, 6, deleteData(t, "db/x", nil))
	for name, ch := range map[string]<-chan struct{}{"key": key, "prefix": prefix} {
		select {
		case <-ch:
			t.Fatalf("%s watch closed by writes under db/", name)
		default:
		}
	}
	mustOK(t, s, 7, putData(t, "app/b", "2", nil))
	select {
	case <-prefix:
	default:
		t.Fatal("prefix watch still open after a write under app/")
	}
	select {
	case <-key:
		t.Fatal("app/a's watch closed by a write of app/b")
	default:
	}
}

// TestManyIdleWatchers parks 10,000 watchers on distinct keys: writes to
// other keys answer none of them, a write of one key answers exactly that
// one, and the memory they hold is logged per watcher.
func TestManyIdleWatchers(t *testing.T) {
	const n = 10000
	s := NewStore(DefaultLimits())
	for i := range n {
		mustOK(t, s, uint64(i+1), putData(t, "w/"+strconv.Itoa(i), "v", nil))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	answered := make(chan string, n)
	for i := range n {
		key := "w/" + strconv.Itoa(i)
		go func() {
			if _, idx := s.Wait(ctx, Target{Key: key}, n, true); idx > n {
				answered <- key
			}
		}()
	}
	next := uint64(n + 1)
	for j := range 100 {
		mustOK(t, s, next, putData(t, "other/"+strconv.Itoa(j), "x", nil))
		next++
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("%d idle watchers: %d goroutines, ~%d bytes each (heap + stacks)", n, runtime.NumGoroutine(),
		(int64(after.HeapInuse+after.StackInuse)-int64(before.HeapInuse+before.StackInuse))/n)
	mustOK(t, s, next, putData(t, "w/4242", "new", nil))
	select {
	case key := <-answered:
		if key != "w/4242" {
			t.Fatalf("%s answered", key)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watcher of w/4242 did not answer")
	}
	select {
	case key := <-answered:
		t.Fatalf("%s answered too", key)
	default:
	}
}
