package chaos

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Summary aggregates the reports of many runs, for `make chaos-long`.
type Summary struct {
	Runs       int            `json:"runs"`
	FailedRuns int            `json:"failed_runs"`
	Operations int            `json:"operations"`
	OK         int            `json:"ok"`
	Unknown    int            `json:"unknown"`
	Failed     int            `json:"failed"`
	Violations int            `json:"violations"`
	ByRunner   map[string]int `json:"runs_by_runner"`
	// ByLogStore counts runs per Raft log store: the suite alternates them
	// so both get crashed.
	ByLogStore map[string]int `json:"runs_by_log_store"`
	Faults     []FaultSummary `json:"faults"`
	// Convergence percentiles are over runs; CheckMax is the slowest
	// linearizability check.
	ConvergenceP50 time.Duration `json:"convergence_p50_ns"`
	ConvergenceP99 time.Duration `json:"convergence_p99_ns"`
	CheckMax       time.Duration `json:"check_max_ns"`
}

// FaultSummary is one fault kind across runs. Recovery is from the heal to
// the first acknowledged write sent after it.
type FaultSummary struct {
	Kind        FaultKind     `json:"kind"`
	Injected    int           `json:"injected"`
	Unrecovered int           `json:"unrecovered"`
	RecoveryP50 time.Duration `json:"recovery_p50_ns"`
	RecoveryP99 time.Duration `json:"recovery_p99_ns"`
	RecoveryMax time.Duration `json:"recovery_max_ns"`
	OutageP50   time.Duration `json:"outage_p50_ns"`
	OutageP99   time.Duration `json:"outage_p99_ns"`
}

// Summarize aggregates reports.
func Summarize(reports []Report) Summary {
	s := Summary{ByRunner: map[string]int{}, ByLogStore: map[string]int{}}
	recovery := map[FaultKind][]time.Duration{}
	outage := map[FaultKind][]time.Duration{}
	injected := map[FaultKind]int{}
	unrecovered := map[FaultKind]int{}
	var conv []time.Duration
	for _, r := range reports {
		s.Runs++
		s.ByRunner[r.Runner]++
		if r.LogStore != "" {
			s.ByLogStore[r.LogStore]++
		}
		if !r.Passed() {
			s.FailedRuns++
		}
		s.Violations += len(r.Violations)
		s.Operations += r.Operations
		s.OK += r.OK
		s.Unknown += r.Unknown
		s.Failed += r.Failed
		conv = append(conv, r.Convergence)
		s.CheckMax = max(s.CheckMax, r.CheckDuration)
		for _, f := range r.Faults {
			injected[f.Kind]++
			outage[f.Kind] = append(outage[f.Kind], f.Outage)
			if f.Recovered {
				recovery[f.Kind] = append(recovery[f.Kind], f.Recovery)
			} else {
				unrecovered[f.Kind]++
			}
		}
	}
	s.ConvergenceP50, s.ConvergenceP99 = percentile(conv, 50), percentile(conv, 99)
	for _, k := range AllFaultKinds {
		if injected[k] == 0 {
			continue
		}
		rs := recovery[k]
		fs := FaultSummary{Kind: k, Injected: injected[k], Unrecovered: unrecovered[k],
			RecoveryP50: percentile(rs, 50), RecoveryP99: percentile(rs, 99),
			OutageP50: percentile(outage[k], 50), OutageP99: percentile(outage[k], 99)}
		if len(rs) > 0 {
			fs.RecoveryMax = slices.Max(rs)
		}
		s.Faults = append(s.Faults, fs)
	}
	return s
}

// percentile is the nearest-rank percentile p of ds (0 for none).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := (p*len(s) + 99) / 100
	return s[max(rank, 1)-1]
}

// Markdown renders the summary as the tables `make chaos-long` prints.
func (s Summary) Markdown() string {
	var b strings.Builder
	var runners []string
	for r, n := range s.ByRunner {
		runners = append(runners, fmt.Sprintf("%s %d", r, n))
	}
	sort.Strings(runners)
	var stores []string
	for st, n := range s.ByLogStore {
		stores = append(stores, fmt.Sprintf("%s %d", st, n))
	}
	sort.Strings(stores)
	if len(stores) > 0 {
		runners = append(runners, "log store: "+strings.Join(stores, ", "))
	}
	fmt.Fprintf(&b, "| runs | failed runs | violations | operations | ok | unknown | failed | convergence p50 / p99 | slowest check |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %d (%s) | %d | %d | %d | %d | %d | %d | %s / %s | %s |\n\n",
		s.Runs, strings.Join(runners, ", "), s.FailedRuns, s.Violations, s.Operations, s.OK, s.Unknown, s.Failed,
		round(s.ConvergenceP50), round(s.ConvergenceP99), round(s.CheckMax))
	b.WriteString("Recovery: from the heal (restart, resume, network healed) to the first acknowledged write sent after it.\n")
	b.WriteString("Outage: from the fault's start to the first acknowledged write sent after it.\n\n")
	fmt.Fprintf(&b, "| fault | injected | no write after heal | recovery p50 | p99 | max | outage p50 | p99 |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|\n")
	for _, f := range s.Faults {
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | %s | %s | %s |\n", f.Kind, f.Injected, f.Unrecovered,
			round(f.RecoveryP50), round(f.RecoveryP99), round(f.RecoveryMax), round(f.OutageP50), round(f.OutageP99))
	}
	return b.String()
}

func round(d time.Duration) time.Duration { return d.Round(10 * time.Millisecond) }
