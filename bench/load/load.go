// Package load runs a fixed-duration closed-loop load: N workers, each
// issuing one operation at a time through its own client, and summarises
// throughput and latency. It uses only the standard library, so the etcd
// load driver built in a throwaway module shares it with agentbench and both
// sides are measured the same way.
package load

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Op performs one operation; seq counts the worker's operations from 0.
type Op func(ctx context.Context, seq int) error

// Config is one load level.
type Config struct {
	// Name names the operation, e.g. "put" or "get".
	Name string
	// Clients is the number of concurrent workers.
	Clients int
	// Warmup runs before measuring starts; its operations are not counted,
	// so connections are open and caches warm when measuring begins.
	Warmup time.Duration
	// Duration is how long operations are measured.
	Duration time.Duration
	// NewOp returns worker's operation, with its own client. Called once
	// per worker before any of them starts.
	NewOp func(worker int) (Op, error)
}

// Result summarises one load level. Latencies are in milliseconds.
type Result struct {
	Name    string `json:"name"`
	Clients int    `json:"clients"`
	// Round is the round of a run that repeats its levels (from 1), or 0
	// for a level run once.
	Round      int     `json:"round,omitempty"`
	Ops        int     `json:"ops"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"seconds"`
	OpsPerSec  float64 `json:"ops_per_sec"`
	MeanMs     float64 `json:"mean_ms"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
}

// Run runs the load described by cfg and summarises it. Operations that
// fail are counted in Errors and kept out of the latencies. Run fails only
// when cfg is invalid, a worker cannot be set up, or ctx ends.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Clients < 1 || cfg.Duration <= 0 || cfg.NewOp == nil {
		return Result{}, fmt.Errorf("load: %s: need Clients >= 1, Duration > 0 and NewOp", cfg.Name)
	}
	ops := make([]Op, cfg.Clients)
	for i := range ops {
		op, err := cfg.NewOp(i)
		if err != nil {
			return Result{}, fmt.Errorf("load: %s worker %d: %w", cfg.Name, i, err)
		}
		ops[i] = op
	}
	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	end := measureFrom.Add(cfg.Duration)
	workers := make([]worker, cfg.Clients)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			workers[i].run(ctx, ops[i], measureFrom, end)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	return summarise(cfg, measureFrom, workers), nil
}

// worker is one worker's record. Only operations that start within the
// measured window count.
type worker struct {
	lat      []time.Duration
	errs     int
	firstErr error
	last     time.Time // when the last counted operation ended
}

func (w *worker) run(ctx context.Context, op Op, from, end time.Time) {
	for seq := 0; ctx.Err() == nil; seq++ {
		t0 := time.Now()
		if !t0.Before(end) {
			return
		}
		err := op(ctx, seq)
		t1 := time.Now()
		if t0.Before(from) {
			continue
		}
		w.last = t1
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if w.firstErr == nil {
				w.firstErr = err
			}
			w.errs++
			continue
		}
		w.lat = append(w.lat, t1.Sub(t0))
	}
}

// summarise merges the workers' records. Throughput is counted over the
// time from the start of measuring until the last counted operation
// finished, so the tail of operations begun just before the end is in.
func summarise(cfg Config, from time.Time, workers []worker) Result {
	r := Result{Name: cfg.Name, Clients: cfg.Clients}
	var all []time.Duration
	last := from
	var firstErr error
	for _, w := range workers {
		all = append(all, w.lat...)
		r.Errors += w.errs
		if w.last.After(last) {
			last = w.last
		}
		if firstErr == nil {
			firstErr = w.firstErr
		}
	}
	if firstErr != nil {
		r.FirstError = firstErr.Error()
	}
	r.Ops = len(all)
	r.Seconds = last.Sub(from).Seconds()
	if r.Seconds > 0 {
		r.OpsPerSec = float64(r.Ops) / r.Seconds
	}
	if len(all) == 0 {
		return r
	}
	slices.Sort(all)
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	r.MeanMs = ms(sum / time.Duration(len(all)))
	r.P50Ms = ms(Percentile(all, 50))
	r.P99Ms = ms(Percentile(all, 99))
	r.MaxMs = ms(all[len(all)-1])
	return r
}

// Percentile is the nearest-rank p-th percentile (0 < p <= 100) of sorted,
// which must not be empty.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(float64(len(sorted))*p/100+0.999999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ErrStatus is wrapped by operations whose server answered but refused.
var ErrStatus = errors.New("unexpected answer")
