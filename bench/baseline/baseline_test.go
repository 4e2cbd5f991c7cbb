package baseline

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestSummarise(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	got := summarise(ms(5, 1, 4, 2, 3))
	want := Sample{N: 5, Median: 3 * time.Millisecond, P99: 5 * time.Millisecond, Max: 5 * time.Millisecond}
	if got != want {
		t.Errorf("summarise(5 values) = %+v, want %+v", got, want)
	}
	// Nearest rank: of 100 values, p99 is the 99th, the median the 50th.
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i
	}
	got = summarise(ms(hundred...))
	if got.Median != 50*time.Millisecond || got.P99 != 99*time.Millisecond || got.Max != 100*time.Millisecond {
		t.Errorf("summarise(1..100 ms) = %+v", got)
	}
}

func TestFsyncAppendsAndCleansUp(t *testing.T) {
	dir := t.TempDir()
	s, err := Fsync(context.Background(), dir, 20, 300)
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 20 || s.Median <= 0 || s.P99 < s.Median || s.Max < s.P99 {
		t.Errorf("sample %+v: want 20 ordered positive figures", s)
	}
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("Fsync left %d files in its dir", len(left))
	}
	if _, err := Fsync(context.Background(), dir, 0, 300); err == nil {
		t.Error("Fsync of 0 appends succeeded")
	}
	if _, err := Fsync(context.Background(), dir+"/missing", 1, 1); err == nil {
		t.Error("Fsync in a missing dir succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Fsync(ctx, dir, 5, 1); err == nil {
		t.Error("Fsync with a cancelled context succeeded")
	}
}

func TestLoopbackRTT(t *testing.T) {
	s, err := LoopbackRTT(context.Background(), 200, 256)
	if err != nil {
		t.Fatal(err)
	}
	// A loopback round trip is tens of microseconds; a second would mean
	// the echo is not answering each message on its own.
	if s.N != 200 || s.Median <= 0 || s.Median > time.Second || s.Max < s.Median {
		t.Errorf("sample %+v", s)
	}
	if _, err := LoopbackRTT(context.Background(), 1, 0); err == nil {
		t.Error("LoopbackRTT of 0-byte messages succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := LoopbackRTT(ctx, 5, 8); err == nil {
		t.Error("LoopbackRTT with a cancelled context succeeded")
	}
}
