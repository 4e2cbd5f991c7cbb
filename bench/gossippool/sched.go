package gossippool

import (
	"runtime/metrics"
	"time"
)

// schedLatency is a reading of the Go scheduler's latency histogram (how
// long goroutines that could run waited for a core), cumulative since the
// process started.
type schedLatency struct {
	counts  []uint64
	buckets []float64
}

const schedMetric = "/sched/latencies:seconds"

func readSched() schedLatency {
	s := []metrics.Sample{{Name: schedMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return schedLatency{}
	}
	h := s[0].Value.Float64Histogram()
	return schedLatency{counts: append([]uint64(nil), h.Counts...), buckets: h.Buckets}
}

// since returns the 99th percentile and the largest latency of the waits
// between before and s, each as the upper bound of its bucket.
func (s schedLatency) since(before schedLatency) (p99, most time.Duration) {
	if len(s.counts) == 0 || len(before.counts) != len(s.counts) {
		return 0, 0
	}
	delta := make([]uint64, len(s.counts))
	var total uint64
	for i := range s.counts {
		delta[i] = s.counts[i] - before.counts[i]
		total += delta[i]
	}
	return quantiles(delta, s.buckets, total)
}

// quantiles reads the 99th percentile and the top of a histogram: counts[i]
// falls in [buckets[i], buckets[i+1]).
func quantiles(counts []uint64, buckets []float64, total uint64) (p99, most time.Duration) {
	if total == 0 {
		return 0, 0
	}
	upper := func(i int) time.Duration {
		b := buckets[i+1]
		if b > 1e9 { // the last bucket is open-ended
			b = buckets[i]
		}
		return time.Duration(b * float64(time.Second))
	}
	var run uint64
	p99set := false
	for i, c := range counts {
		run += c
		if !p99set && run*100 >= total*99 {
			p99, p99set = upper(i), true
		}
		if c > 0 {
			most = upper(i)
		}
	}
	return p99, most
}
