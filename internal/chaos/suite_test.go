package chaos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/chaos"
)

// The suite is driven by environment variables, which the Makefile's chaos
// targets set; without them it skips, so `make test` stays quick.
//
//	CHAOS_RUNS        runs per runner, e.g. "inproc=3,process=1,docker=2"
//	CHAOS_DURATION    instead of counts: repeat runs, rotating runners,
//	                  until this much time has passed (e.g. 30m)
//	CHAOS_RUN_TIME    traffic time of one run (default 30s)
//	CHAOS_SEED        first seed (default: from the clock); run i uses seed+i
//	CHAOS_FAULTS      fault kinds to draw from (default: all the runner has)
//	CHAOS_OUT         artifacts root (default: results/chaos in the module)
//	CHAOS_BUILD_TAGS  tags the process and Docker runners build the agent
//	                  with; pass the same to go test -tags
//	CHAOS_EXPECT      "violations": the build is broken on purpose (a bite
//	                  tag) and the test passes only if most runs fail
//	CHAOS_LOG_STORE   Raft log store of every run: wal, boltdb, or
//	                  alternate (default): each runner's even runs on wal,
//	                  odd ones on boltdb, so make chaos crashes both
type suiteConfig struct {
	runs      map[string]int
	duration  time.Duration
	runTime   time.Duration
	seed      uint64
	faults    []chaos.FaultKind
	out       string
	buildTags string
	expectBad bool
	logStore  string // wal, boltdb or alternate
}

// logStoreSetting reads CHAOS_LOG_STORE, default alternate.
func logStoreSetting(t *testing.T) string {
	switch v := os.Getenv("CHAOS_LOG_STORE"); v {
	case "":
		return "alternate"
	case "wal", "boltdb", "alternate":
		return v
	default:
		t.Fatalf("CHAOS_LOG_STORE: %q is not wal, boltdb or alternate", v)
		return ""
	}
}

// storeFor is the log store of a runner's n-th run (from 0).
func (cfg suiteConfig) storeFor(n int) string {
	if cfg.logStore != "alternate" {
		return cfg.logStore
	}
	if n%2 == 1 {
		return "boltdb"
	}
	return "wal"
}

func loadSuiteConfig(t *testing.T) suiteConfig {
	cfg := suiteConfig{runs: map[string]int{}, runTime: 30 * time.Second, seed: uint64(time.Now().UnixNano() % 1_000_000_000)}
	runs, dur := os.Getenv("CHAOS_RUNS"), os.Getenv("CHAOS_DURATION")
	if runs == "" && dur == "" {
		t.Skip("chaos suite: set CHAOS_RUNS or CHAOS_DURATION (make chaos, make chaos-long)")
	}
	for _, part := range strings.Split(runs, ",") {
		if part == "" {
			continue
		}
		name, n, ok := strings.Cut(part, "=")
		count, err := strconv.Atoi(n)
		if !ok || err != nil || count < 0 || runners[name] == nil {
			t.Fatalf("CHAOS_RUNS: %q is not runner=count with a runner among %v", part, runnerNames())
		}
		cfg.runs[name] = count
	}
	var err error
	if dur != "" {
		if cfg.duration, err = time.ParseDuration(dur); err != nil || cfg.duration <= 0 {
			t.Fatalf("CHAOS_DURATION: %q is not a positive duration", dur)
		}
	}
	if v := os.Getenv("CHAOS_RUN_TIME"); v != "" {
		if cfg.runTime, err = time.ParseDuration(v); err != nil || cfg.runTime < 5*time.Second {
			t.Fatalf("CHAOS_RUN_TIME: %q is not a duration of at least 5s", v)
		}
	}
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		if cfg.seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("CHAOS_SEED: %q is not an unsigned integer", v)
		}
	}
	for _, k := range strings.Split(os.Getenv("CHAOS_FAULTS"), ",") {
		if k == "" {
			continue
		}
		if !contains(chaos.AllFaultKinds, chaos.FaultKind(k)) {
			t.Fatalf("CHAOS_FAULTS: %q is not one of %v", k, chaos.AllFaultKinds)
		}
		cfg.faults = append(cfg.faults, chaos.FaultKind(k))
	}
	cfg.out = os.Getenv("CHAOS_OUT")
	if cfg.out == "" {
		cfg.out = filepath.Join("..", "..", "results", "chaos")
	}
	cfg.buildTags = os.Getenv("CHAOS_BUILD_TAGS")
	cfg.logStore = logStoreSetting(t)
	switch v := os.Getenv("CHAOS_EXPECT"); v {
	case "", "pass":
	case "violations":
		cfg.expectBad = true
	default:
		t.Fatalf("CHAOS_EXPECT: %q is not pass or violations", v)
	}
	return cfg
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// runner starts a cluster for one run whose agents use log store store;
// logDir is where it may keep node logs. It returns a skip reason when the
// runner cannot run here.
type runner func(t *testing.T, cfg suiteConfig, seed uint64, store, logDir string) (chaos.Cluster, string)

// runners is filled by the runner_*_test.go files, and cleanups with what
// they leave to remove after every test (a built binary, an image).
var (
	runners  = map[string]runner{}
	cleanups []func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range cleanups {
		f()
	}
	os.Exit(code)
}

func runnerNames() []string {
	var out []string
	for n := range runners {
		out = append(out, n)
	}
	return out
}

// TestChaos runs the fault-injection suite and checks every run's
// invariants (see package chaos).
func TestChaos(t *testing.T) {
	cfg := loadSuiteConfig(t)
	stamp := time.Now().UTC().Format("20060102-150405")
	var plan []string
	for _, name := range []string{"inproc", "process", "docker"} {
		for i := 0; i < cfg.runs[name]; i++ {
			plan = append(plan, name)
		}
	}
	var rotate []string
	for _, name := range []string{"inproc", "process", "docker"} {
		if cfg.duration > 0 && (len(cfg.runs) == 0 || cfg.runs[name] > 0) {
			rotate = append(rotate, name)
		}
	}
	deadline := time.Now().Add(cfg.duration)
	var reports []chaos.Report
	started := map[string]int{} // runs per runner so far
	for i := 0; ; i++ {
		var name string
		switch {
		case cfg.duration == 0 && i < len(plan):
			name = plan[i]
		case cfg.duration > 0 && time.Now().Add(cfg.runTime).Before(deadline):
			name = rotate[i%len(rotate)]
		}
		if name == "" {
			break
		}
		seed := cfg.seed + uint64(i)
		store := cfg.storeFor(started[name])
		started[name]++
		dir := filepath.Join(cfg.out, fmt.Sprintf("%s-%03d-%s-%s-seed%d", stamp, i, name, store, seed))
		var rep chaos.Report
		t.Run(fmt.Sprintf("%s/%s/seed=%d", name, store, seed), func(t *testing.T) {
			rep = runOne(t, cfg, name, store, seed, dir)
		})
		if rep.Runner != "" {
			reports = append(reports, rep)
		}
	}
	sum := chaos.Summarize(reports)
	md := sum.Markdown()
	fmt.Printf("\nchaos summary (%s):\n\n%s\n", cfg.out, md)
	if err := os.MkdirAll(cfg.out, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(cfg.out, stamp+"-summary.md"), []byte(md), 0o644)
		if b, err := json.MarshalIndent(struct {
			Summary chaos.Summary  `json:"summary"`
			Runs    []chaos.Report `json:"runs"`
		}{sum, reports}, "", "  "); err == nil {
			_ = os.WriteFile(filepath.Join(cfg.out, stamp+"-summary.json"), b, 0o644)
		}
	}
	if cfg.expectBad {
		if sum.Runs == 0 || sum.FailedRuns*2 <= sum.Runs {
			t.Errorf("built with %q the suite should fail most runs; it failed %d of %d: the checker does not bite",
				cfg.buildTags, sum.FailedRuns, sum.Runs)
		}
	}
}

// runOne runs one seed on one runner and reports its violations.
func runOne(t *testing.T, cfg suiteConfig, name, store string, seed uint64, dir string) chaos.Report {
	logDir := filepath.Join(dir, "nodes")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	c, skip := runners[name](t, cfg, seed, store, logDir)
	if skip != "" {
		t.Skip(skip)
	}
	defer func() {
		if err := c.Close(); err != nil {
			t.Errorf("closing the %s cluster: %v", name, err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.runTime+10*time.Minute)
	defer cancel()
	rep := chaos.Run(ctx, c, chaos.Options{
		Seed: seed, Duration: cfg.runTime, Faults: cfg.faults, Dir: dir, Logf: t.Logf, LogStore: store,
	})
	var kinds []string
	for _, f := range rep.Faults {
		kinds = append(kinds, string(f.Kind))
	}
	t.Logf("%s on %s seed %d: %d operations (%d ok, %d unknown, %d failed), faults %v, converged in %s, checked in %s, %d violations",
		name, store, seed, rep.Operations, rep.OK, rep.Unknown, rep.Failed, kinds, rep.Convergence.Round(time.Millisecond),
		rep.CheckDuration.Round(time.Millisecond), len(rep.Violations))
	if rep.Passed() {
		_ = os.RemoveAll(logDir)
		return rep
	}
	msg := fmt.Sprintf("%s on %s seed %d: %d violations (artifacts in %s):\n  %s", name, store, seed, len(rep.Violations), dir,
		strings.Join(rep.Violations, "\n  "))
	if cfg.expectBad {
		t.Log(msg)
	} else {
		t.Error(msg)
	}
	return rep
}
