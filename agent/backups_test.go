package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/clusteragent/agent/agent/snapshot"
	"github.com/clusteragent/agent/internal/clock"
)

// TestBackupsScheduleRetainAndMetrics drives the scheduled-snapshot loop
// with a fake clock: each interval writes one file, the directory keeps
// the newest retain, the success metric follows the clock, and a failing
// take moves the failure counter and nothing else.
func TestBackupsScheduleRetainAndMetrics(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fake := clock.NewFake(start)
	dir := filepath.Join(t.TempDir(), "backups")
	b := newBackups(SnapshotConfig{Interval: time.Minute, Retain: 3, Path: dir}, "unused", hclog.NewNullLogger())
	b.clock = fake
	fail := make(chan bool, 1)
	fail <- false
	taken := make(chan error, 1)
	b.take = func(_ context.Context, path string) (snapshot.Info, error) {
		f := <-fail
		var err error
		if f {
			err = errors.New("leader unreachable")
		} else {
			err = os.WriteFile(path, []byte("archive"), 0o600)
		}
		taken <- err
		return snapshot.Info{Meta: snapshot.Meta{Index: 7}, Size: 7}, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.run(ctx) }()
	defer func() { cancel(); <-done }()

	tick := func(failNext bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			fake.Advance(time.Minute)
			select {
			case err := <-taken:
				fail <- failNext
				_ = err
				return
			case <-time.After(20 * time.Millisecond): // the loop may not hold its ticker yet
			}
			if time.Now().After(deadline) {
				t.Fatal("no snapshot taken within 10s of advancing the clock")
			}
		}
	}
	for i := 0; i < 5; i++ {
		tick(i == 4)
	}
	waitFiles := func(want int) []string {
		t.Helper()
		var names []string
		deadline := time.Now().Add(10 * time.Second)
		for {
			entries, _ := os.ReadDir(dir)
			names = names[:0]
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if len(names) == want || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		sort.Strings(names)
		if len(names) != want {
			t.Fatalf("backup dir holds %v, want %d files", names, want)
		}
		return names
	}
	names := waitFiles(3)
	if got := promValue(b.failures); got != 0 {
		t.Fatalf("failures = %v before any failure", got)
	}
	last := promValue(b.lastSuccess)
	if last < float64(start.Unix()) {
		t.Fatalf("last success = %v, want a time after %v", last, start)
	}
	// The fifth take (armed to fail) runs on the next tick.
	tick(false)
	deadline := time.Now().Add(10 * time.Second)
	for promValue(b.failures) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("failures = %v, want 1", promValue(b.failures))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := promValue(b.lastSuccess); got != last {
		t.Fatalf("a failure moved the last-success metric from %v to %v", last, got)
	}
	if after := waitFiles(3); after[0] != names[0] {
		t.Fatalf("a failed snapshot changed the directory: %v, then %v", names, after)
	}
}

// promValue reads a gauge's or counter's value.
func promValue(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}

func TestSnapshotConfigValidate(t *testing.T) {
	cases := map[string]struct {
		mutate func(*SnapshotConfig)
		key    string // "" = valid
	}{
		"defaults":         {func(*SnapshotConfig) {}, ""},
		"hourly":           {func(s *SnapshotConfig) { s.Interval = time.Hour }, ""},
		"interval too low": {func(s *SnapshotConfig) { s.Interval = time.Millisecond }, "snapshot.interval"},
		"negative":         {func(s *SnapshotConfig) { s.Interval = -time.Second }, "snapshot.interval"},
		"retain 0":         {func(s *SnapshotConfig) { s.Retain = 0 }, "snapshot.retain"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c.Snapshot)
			err := c.Validate()
			var ce *ConfigError
			if tc.key == "" && err != nil {
				t.Fatalf("Validate = %v, want nil", err)
			}
			if tc.key != "" && (!errors.As(err, &ce) || ce.Key != tc.key) {
				t.Fatalf("Validate = %v, want a ConfigError for %s", err, tc.key)
			}
		})
	}
	if got := (SnapshotConfig{}).dir("/data"); got != filepath.Join("/data", "backups") {
		t.Fatalf("default dir = %q", got)
	}
}
