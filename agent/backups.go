package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusteragent/agent/agent/snapshot"
	"github.com/clusteragent/agent/internal/clock"
)

// backups takes the scheduled snapshots: a leader duty with its own loop
// on an injected clock. Each one is written atomically into dir, verified,
// and then the oldest beyond retain are deleted. Its metrics make a failing
// backup visible: the time of the last success stops moving and the
// failure counter climbs.
type backups struct {
	interval time.Duration
	retain   int
	dir      string
	clock    clock.Clock
	logger   hclog.Logger
	// take writes one verified snapshot to path (Agent.saveSnapshotFile).
	take func(ctx context.Context, path string) (snapshot.Info, error)

	lastSuccess prometheus.Gauge
	lastSize    prometheus.Gauge
	lastSeconds prometheus.Gauge
	failures    prometheus.Counter
}

func newBackups(cfg SnapshotConfig, dataDir string, logger hclog.Logger) *backups {
	return &backups{
		interval: cfg.Interval, retain: cfg.Retain, dir: cfg.dir(dataDir), clock: clock.Real{}, logger: logger,
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "snapshot_last_success_timestamp_seconds",
			Help: "Unix time of the last scheduled snapshot written and verified by this agent as leader; 0 before the first."}),
		lastSize: prometheus.NewGauge(prometheus.GaugeOpts{Name: "snapshot_last_size_bytes",
			Help: "Size of the last scheduled snapshot written."}),
		lastSeconds: prometheus.NewGauge(prometheus.GaugeOpts{Name: "snapshot_last_duration_seconds",
			Help: "How long the last scheduled snapshot took to take, write and verify."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "snapshot_failures_total",
			Help: "Scheduled snapshots that failed (see the agent's log for why)."}),
	}
}

func (b *backups) collectors() []prometheus.Collector {
	return []prometheus.Collector{b.lastSuccess, b.lastSize, b.lastSeconds, b.failures}
}

// run takes a snapshot every interval until ctx ends (leadership lost).
// The first is taken one interval after leadership starts, so a leader
// flapping in and out does not write one per election.
func (b *backups) run(ctx context.Context) {
	if b.interval <= 0 {
		return
	}
	b.logger.Info("scheduled snapshots on", "interval", b.interval, "retain", b.retain, "dir", b.dir)
	t := b.clock.NewTicker(b.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		if err := b.once(ctx); err != nil && ctx.Err() == nil {
			b.failures.Inc()
			b.logger.Error("scheduled snapshot failed", "dir", b.dir, "error", err)
		}
	}
}

// once takes one snapshot and prunes the directory.
func (b *backups) once(ctx context.Context) error {
	start := b.clock.Now()
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return fmt.Errorf("create the snapshot directory: %w", err)
	}
	path := filepath.Join(b.dir, snapshot.FileName(start))
	info, err := b.take(ctx, path)
	if err != nil {
		return err
	}
	took := b.clock.Now().Sub(start)
	b.lastSuccess.Set(float64(b.clock.Now().UnixNano()) / 1e9)
	b.lastSize.Set(float64(info.Size))
	b.lastSeconds.Set(took.Seconds())
	b.logger.Info("scheduled snapshot written", "path", path, "index", info.Index, "keys", info.Keys,
		"bytes", info.Size, "took", took)
	return b.prune()
}

// prune deletes the scheduled snapshots beyond retain (see snapshot.Prune).
func (b *backups) prune() error {
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return fmt.Errorf("list the snapshot directory: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	for _, n := range snapshot.Prune(names, b.retain) {
		if err := os.Remove(filepath.Join(b.dir, n)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("prune an old snapshot: %w", err)
		}
	}
	return nil
}

// saveSnapshotFile writes a snapshot taken through this leader to path,
// atomically, and verifies the file before it gets its name.
func (a *Agent) saveSnapshotFile(ctx context.Context, path string) (snapshot.Info, error) {
	ar, err := a.openArchive(ctx, false)
	if err != nil {
		return snapshot.Info{}, err
	}
	defer ar.Close()
	var info snapshot.Info
	err = snapshot.WriteFileAtomic(path, func(f *os.File) error {
		if _, err := ar.WriteTo(f); err != nil {
			return err
		}
		if _, err := f.Seek(0, 0); err != nil {
			return err
		}
		info, err = snapshot.Verify(f)
		return err
	})
	return info, err
}
