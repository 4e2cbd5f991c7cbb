package gossippool

import (
	"math"
	"testing"
	"time"
)

func TestQuantiles(t *testing.T) {
	buckets := []float64{0, 0.001, 0.01, 0.1, 1, math.Inf(1)}
	tests := []struct {
		name      string
		counts    []uint64
		p99, most time.Duration
	}{
		{"empty", []uint64{0, 0, 0, 0, 0}, 0, 0},
		{"all fast", []uint64{100, 0, 0, 0, 0}, time.Millisecond, time.Millisecond},
		{"one slow in a hundred", []uint64{99, 0, 0, 1, 0}, time.Millisecond, time.Second},
		{"two slow in a hundred", []uint64{98, 0, 0, 2, 0}, time.Second, time.Second},
		{"open-ended top bucket", []uint64{0, 0, 0, 0, 5}, time.Second, time.Second},
	}
	for _, tt := range tests {
		var total uint64
		for _, c := range tt.counts {
			total += c
		}
		p99, most := quantiles(tt.counts, buckets, total)
		if p99 != tt.p99 || most != tt.most {
			t.Errorf("%s: quantiles = %s, %s; want %s, %s", tt.name, p99, most, tt.p99, tt.most)
		}
	}
}

func TestReadSchedSince(t *testing.T) {
	before := readSched()
	if len(before.counts) == 0 {
		t.Fatalf("runtime/metrics has no %s", schedMetric)
	}
	done := make(chan struct{})
	for range 100 {
		go func() { done <- struct{}{} }()
	}
	for range 100 {
		<-done
	}
	p99, most := readSched().since(before)
	if most <= 0 || p99 <= 0 || p99 > most {
		t.Fatalf("after 100 goroutines ran: p99 %s, max %s; want 0 < p99 <= max", p99, most)
	}
}
