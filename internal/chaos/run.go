package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/clusteragent/agent/internal/chaos/linearize"
)

// Options shape one run. Zero fields take the defaults in withDefaults.
type Options struct {
	Seed uint64
	// Duration is how long clients send traffic; faults fall within it.
	Duration time.Duration
	// Clients, Keys and Rate (operations per second per client) shape the load.
	Clients int
	Keys    int
	Rate    float64
	// RequestTimeout bounds one client request.
	RequestTimeout time.Duration
	// Faults are the kinds to draw from; nil means every kind the cluster
	// supports. Kinds it does not support are dropped.
	Faults []FaultKind
	// Hold is the least time a fault stays; Quiet the time between faults.
	Hold, Quiet time.Duration
	// CheckTimeout bounds the linearizability checker; running out is a
	// failure.
	CheckTimeout time.Duration
	// ConvergeTimeout bounds the wait for convergence after the last heal.
	ConvergeTimeout time.Duration
	// Dir receives the run's artifacts: the schedule, the report and, on
	// failure, the checker's HTML view, the history and every node's log.
	Dir string
	// LogStore is the Raft log store the cluster's agents run on ("wal" or
	// "boltdb"); the report records it, so a failure names the store.
	LogStore string
	// KeepArtifacts keeps the logs and history of passing runs too.
	KeepArtifacts bool
	Logf          func(format string, args ...any)
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.Duration, 30*time.Second)
	def(&o.RequestTimeout, 5*time.Second)
	def(&o.Hold, 2*time.Second)
	def(&o.Quiet, 1500*time.Millisecond)
	def(&o.CheckTimeout, 3*time.Minute)
	def(&o.ConvergeTimeout, 30*time.Second)
	if o.Clients == 0 {
		o.Clients = 10
	}
	if o.Keys == 0 {
		o.Keys = 6
	}
	if o.Rate == 0 {
		o.Rate = 40
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o
}

// Report is the outcome of one run.
type Report struct {
	Runner string `json:"runner"`
	// LogStore is the Raft log store of the run's agents.
	LogStore string        `json:"log_store"`
	Seed     uint64        `json:"seed"`
	Faults   []FaultRecord `json:"faults"`
	// Operations counts client operations: acknowledged (OK, including
	// failed compares and reads), of unknown fate, and failed.
	Operations int `json:"operations"`
	OK         int `json:"ok"`
	Unknown    int `json:"unknown"`
	Failed     int `json:"failed"`
	// Convergence is from the end of traffic (after the last heal) until
	// every invariant of a settled cluster held.
	Convergence   time.Duration `json:"convergence_ns"`
	CheckDuration time.Duration `json:"check_ns"`
	StatusSamples int           `json:"status_samples"`
	RemovalPasses int           `json:"autopilot_removal_passes"`
	Violations    []string      `json:"violations"`
	Dir           string        `json:"dir"`
}

// Passed reports whether the run found nothing wrong.
func (r Report) Passed() bool { return len(r.Violations) == 0 }

// Run drives traffic and faults against c, then checks every invariant. It
// never returns early on a violation: the report lists them all. c is left
// running; the caller closes it.
func Run(ctx context.Context, c Cluster, opts Options) Report {
	opts = opts.withDefaults()
	rep := Report{Runner: c.Name(), LogStore: opts.LogStore, Seed: opts.Seed, Dir: opts.Dir}
	violate := func(format string, args ...any) {
		v := fmt.Sprintf(format, args...)
		rep.Violations = append(rep.Violations, v)
		opts.Logf("VIOLATION: %s", v)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		violate("artifacts dir: %v", err)
		return rep
	}
	kinds := usableKinds(opts.Faults, c.Supports())
	obs := newObserver(c)
	nem := newNemesis(c, obs, opts.Seed, opts.Hold, opts.Logf)
	tr := newTraffic(trafficConfig{Clients: opts.Clients, Keys: opts.Keys, Rate: opts.Rate, Timeout: opts.RequestTimeout, Seed: opts.Seed}, c)

	obsCtx, stopObs := context.WithCancel(ctx)
	obsDone := make(chan struct{})
	go func() { defer close(obsDone); obs.run(obsCtx, nem.live, 100*time.Millisecond) }()
	trafficCtx, stopTraffic := context.WithTimeout(ctx, opts.Duration)
	trafficDone := make(chan struct{})
	go func() { defer close(trafficDone); tr.run(trafficCtx, nem.live) }()
	coord := startCoordTraffic(trafficCtx, c, opts, tr.rec, nem.live)

	// Faults, one at a time, while traffic runs; the last one must end in
	// time for some traffic to follow it.
	deadline := time.Now().Add(opts.Duration - opts.Hold)
	order := shuffled(kinds, opts.Seed)
	for i := 0; len(order) > 0 && time.Now().Add(opts.Quiet+opts.Hold).Before(deadline); i++ {
		if !sleepCtx(trafficCtx, opts.Quiet) {
			break
		}
		kind := order[i%len(order)]
		opts.Logf("fault %d: %s", i+1, kind)
		rec, err := nem.inject(ctx, kind)
		if err != nil {
			violate("fault %s (%s): %v", kind, rec.Target, err)
		}
		rep.Faults = append(rep.Faults, rec)
		opts.Logf("fault %d: %s on %s healed after %s", i+1, kind, rec.Target, rec.End.Sub(rec.Start).Round(time.Millisecond))
	}
	// Clients stop when the traffic context ends; requests in flight then
	// are recorded as of unknown fate. Wait for all, so the history is whole.
	<-trafficDone
	coord.wait()
	stopTraffic()

	// Convergence after the last heal.
	settled := time.Now()
	live, retired := nem.live(), nem.retiredNodes()
	err := waitCond(ctx, opts.ConvergeTimeout, func(cctx context.Context) error {
		return converged(cctx, obs, live, retired, c.Settings())
	})
	rep.Convergence = time.Since(settled)
	if err != nil {
		violate("not converged %s after the last heal: %v", opts.ConvergeTimeout, err)
	}
	stopObs()
	<-obsDone
	rep.StatusSamples = obs.sampleCount()
	for _, sb := range obs.splitBrains() {
		violate("split brain: %s", sb)
	}

	// Recovery times.
	for i := range rep.Faults {
		f := &rep.Faults[i]
		if f.End.IsZero() {
			continue
		}
		if at, ok := tr.acked.firstAfter(f.End); ok {
			f.Recovery, f.Recovered = at.Sub(f.End), true
		}
		if at, ok := tr.acked.firstAfter(f.Start); ok {
			f.Outage = at.Sub(f.Start)
		}
	}

	ops := tr.rec.Operations()
	rep.OK, rep.Unknown, rep.Failed = int(tr.counts.ok.Load()), int(tr.counts.unknown.Load()), int(tr.counts.failed.Load())
	rep.Operations = rep.OK + rep.Unknown + rep.Failed

	// Lost acknowledged writes, against the leader's final state.
	if leader, err := obs.leader(ctx, live); err != nil {
		violate("no leader to read the final state from: %v", err)
	} else if final, err := localState(ctx, obs, leader); err != nil {
		violate("final state from %s: %v", leader, err)
	} else {
		for _, v := range lostWrites(tr.acked.all(), final, ops) {
			violate("%s", v)
		}
		for _, v := range coord.check(ctx, obs, leader, tr, opts.ConvergeTimeout) {
			violate("%s", v)
		}
		opts.Logf("coordination: %s; %d operations on lease keys in the linearizability history", coord.summary(), leaseKeyOps(ops))
	}
	for _, v := range indexConflicts(tr.acked.all(), ops) {
		violate("%s", v)
	}

	logDir := filepath.Join(opts.Dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err == nil {
		if err := c.CollectLogs(ctx, logDir); err != nil {
			violate("collecting logs: %v", err)
		}
	}
	apv, passes, err := autopilotViolations(logDir)
	rep.RemovalPasses = passes
	if err != nil {
		violate("reading autopilot passes: %v", err)
	}
	for _, v := range apv {
		violate("autopilot: %s", v)
	}

	res, err := linearize.Check(ops, opts.CheckTimeout)
	rep.CheckDuration = res.Duration
	if err != nil {
		violate("linearizability: %v", err)
		if werr := res.WriteReport(opts.Dir); werr != nil {
			violate("writing the checker's report: %v", werr)
		}
	}
	if rep.Passed() && !opts.KeepArtifacts {
		_ = os.RemoveAll(logDir)
	}
	if err := writeJSON(filepath.Join(opts.Dir, "report.json"), rep); err != nil {
		opts.Logf("writing report: %v", err)
	}
	return rep
}

// usableKinds keeps the wanted kinds the cluster supports, in a stable order.
func usableKinds(want, supported []FaultKind) []FaultKind {
	if want == nil {
		want = AllFaultKinds
	}
	var out []FaultKind
	for _, k := range want {
		if slices.Contains(supported, k) && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// shuffled returns kinds in an order drawn from seed, so runs with
// different seeds lead with different faults.
func shuffled(kinds []FaultKind, seed uint64) []FaultKind {
	out := slices.Clone(kinds)
	rng := rand.New(rand.NewPCG(seed, 0x6f72646572))
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// sleepCtx waits d unless ctx ends first; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
