package report

import (
	"fmt"
	"slices"
	"strings"

	"github.com/clusteragent/agent/bench/load"
)

// AddRound appends one round's levels and stability records to s, each
// marked with round, and keeps the peak of the memory under load over the
// rounds. The idle memory, system and version are taken from the first
// round that has them.
func (s *Side) AddRound(round int, in *Side) {
	if s.System == "" {
		s.System = in.System
	}
	if s.Version == "" {
		s.Version = in.Version
	}
	for _, res := range in.Results {
		res.Round = round
		s.Results = append(s.Results, res)
	}
	for _, st := range in.Stability {
		st.Round = round
		s.Stability = append(s.Stability, st)
	}
	if s.Memory.IdleRSSBytes == 0 {
		s.Memory.IdleRSSBytes = in.Memory.IdleRSSBytes
	}
	if in.Memory.LoadClients != 0 {
		s.Memory.LoadClients = in.Memory.LoadClients
	}
	s.Memory.LoadRSSBytes = max(s.Memory.LoadRSSBytes, in.Memory.LoadRSSBytes)
	s.Memory.LoadRSSByRound = append(s.Memory.LoadRSSByRound, in.Memory.LoadRSSBytes)
}

// results are the side's results of the level, one a round, in the order
// run; none for a nil side.
func (s *Side) results(name string, clients int) []load.Result {
	if s == nil {
		return nil
	}
	var out []load.Result
	for _, res := range s.Results {
		if res.Name == name && res.Clients == clients {
			out = append(out, res)
		}
	}
	return out
}

// Figures are one side's figures of a level over its rounds: the median of
// each figure on its own (so p99 and ops/s may come from different
// rounds), and the errors of every round.
type Figures struct {
	Rounds    int     `json:"rounds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
	Errors    int     `json:"errors"`
}

func figures(rs []load.Result) Figures {
	f := Figures{Rounds: len(rs)}
	pick := func(get func(load.Result) float64) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = get(r)
		}
		return Median(xs)
	}
	f.OpsPerSec = pick(func(r load.Result) float64 { return r.OpsPerSec })
	f.P50Ms = pick(func(r load.Result) float64 { return r.P50Ms })
	f.P99Ms = pick(func(r load.Result) float64 { return r.P99Ms })
	f.MaxMs = pick(func(r load.Result) float64 { return r.MaxMs })
	for _, r := range rs {
		f.Errors += r.Errors
	}
	return f
}

// Ratio is ours/etcd for one figure of a level, taken round by round (ours
// in a round over etcd's in the same round, so drift on the machine
// between rounds weighs on both), and summarised by the median of those
// per-round ratios and their range.
type Ratio struct {
	// Each is the ratio of every round both sides measured, etcd's figure
	// not zero, in round order.
	Each   []float64 `json:"each"`
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
}

// newRatio pairs ours and theirs by round and divides the figure; nil
// when no round has both.
func newRatio(ours, theirs []load.Result, fig func(load.Result) float64) *Ratio {
	var each []float64
	for _, o := range ours {
		for _, t := range theirs {
			if t.Round == o.Round && fig(t) != 0 {
				each = append(each, fig(o)/fig(t))
				break
			}
		}
	}
	if len(each) == 0 {
		return nil
	}
	return &Ratio{Each: each, Median: Median(each), Min: slices.Min(each), Max: slices.Max(each)}
}

// cell is the median, and with several rounds their range in brackets.
func (r *Ratio) cell() string {
	if r == nil {
		return "-"
	}
	if len(r.Each) == 1 {
		return num(r.Median, 2)
	}
	return fmt.Sprintf("%s (%s–%s)", num(r.Median, 2), num(r.Min, 2), num(r.Max, 2))
}

// LevelSummary is one load level of the agent over its rounds, with etcd's
// figures and the ratios ours/etcd when etcd ran it.
type LevelSummary struct {
	Name     string   `json:"name"`
	Clients  int      `json:"clients"`
	Agent    Figures  `json:"agent"`
	Etcd     *Figures `json:"etcd,omitempty"`
	OpsRatio *Ratio   `json:"ops_ratio,omitempty"`
	P99Ratio *Ratio   `json:"p99_ratio,omitempty"`
}

// Levels summarise the agent's levels over the rounds, in the order first
// run.
func (r *Report) Levels() []LevelSummary {
	type key struct {
		name    string
		clients int
	}
	var out []LevelSummary
	seen := map[key]bool{}
	for _, res := range r.Agent.Results {
		k := key{res.Name, res.Clients}
		if seen[k] {
			continue
		}
		seen[k] = true
		ours := r.Agent.results(k.name, k.clients)
		l := LevelSummary{Name: k.name, Clients: k.clients, Agent: figures(ours)}
		if theirs := r.Etcd.results(k.name, k.clients); len(theirs) > 0 {
			f := figures(theirs)
			l.Etcd = &f
			l.OpsRatio = newRatio(ours, theirs, func(x load.Result) float64 { return x.OpsPerSec })
			l.P99Ratio = newRatio(ours, theirs, func(x load.Result) float64 { return x.P99Ms })
		}
		out = append(out, l)
	}
	return out
}

// level is the summary of the level, or nil.
func level(ls []LevelSummary, name string, clients int) *LevelSummary {
	for i := range ls {
		if ls[i].Name == name && ls[i].Clients == clients {
			return &ls[i]
		}
	}
	return nil
}

// EtcdTarget is one of the goals against etcd, judged on the
// median of the per-round ratios ours/etcd.
type EtcdTarget struct {
	Text string `json:"text"`
	// Ratio is nil when the level was not measured on both sides.
	Ratio *Ratio `json:"ratio,omitempty"`
	Met   bool   `json:"met"`
}

// Line is the target, the ratio and the judgement in one sentence.
func (t EtcdTarget) Line() string {
	if t.Ratio == nil {
		return t.Text + ": not measured"
	}
	s := fmt.Sprintf("%s: ours/etcd %s", t.Text, num(t.Ratio.Median, 2))
	if n := len(t.Ratio.Each); n > 1 {
		s += fmt.Sprintf(" (median of %d rounds, each %s to %s)", n, num(t.Ratio.Min, 2), num(t.Ratio.Max, 2))
	}
	return s + ": " + metText(t.Met)
}

// etcdThroughputTargets are the targets against etcd's ops/s: the
// operation, the client count, and how many times etcd's ops/s it asks for.
var etcdThroughputTargets = []struct {
	op      string
	clients int
	factor  float64
}{
	{"put", 1, 1.5}, {"put", 16, 1.5}, {"put", 64, 2},
	{"get", 1, 1.5}, {"get", 16, 1.5}, {"get", 64, 1.5},
}

// EtcdTargets judge the levels against etcd: PUT ops/s at 1 and 16
// clients at least 1.5× etcd's and at 64 clients at least twice, PUT p99
// at every client count measured no more than etcd's, linearizable GET
// ops/s at least 1.5× etcd's at every level, and the leader's RSS under
// the largest put load no more than etcd's. Nil without etcd.
func (r *Report) EtcdTargets() []EtcdTarget {
	if r.Etcd == nil {
		return nil
	}
	ls := r.Levels()
	var out []EtcdTarget
	for _, tt := range etcdThroughputTargets {
		t := EtcdTarget{Text: fmt.Sprintf("%s ops/s at %s ≥ %setcd's", strings.ToUpper(tt.op), clientsText(tt.clients), factorText(tt.factor))}
		if l := level(ls, tt.op, tt.clients); l != nil && l.OpsRatio != nil {
			t.Ratio, t.Met = l.OpsRatio, l.OpsRatio.Median >= tt.factor
		}
		out = append(out, t)
	}
	for _, l := range ls {
		if l.Name != "put" {
			continue
		}
		t := EtcdTarget{Text: fmt.Sprintf("PUT p99 at %s ≤ etcd's", clientsText(l.Clients))}
		if l.P99Ratio != nil {
			t.Ratio, t.Met = l.P99Ratio, l.P99Ratio.Median <= 1
		}
		out = append(out, t)
	}
	return append(out, r.rssTarget())
}

// rssTarget judges the leader's peak RSS under the largest put load
// against etcd's.
func (r *Report) rssTarget() EtcdTarget {
	t := EtcdTarget{Text: fmt.Sprintf("leader RSS under the %d-client put load ≤ etcd's", r.Agent.Memory.LoadClients)}
	ours, theirs := r.Agent.Memory.LoadRSSBytes, r.Etcd.Memory.LoadRSSBytes
	if ours > 0 && theirs > 0 {
		v := float64(ours) / float64(theirs)
		t.Ratio, t.Met = &Ratio{Median: v, Min: v, Max: v}, v <= 1
	}
	return t
}

func clientsText(n int) string {
	if n == 1 {
		return "1 client"
	}
	return fmt.Sprintf("%d clients", n)
}

func factorText(f float64) string {
	if f == 1 {
		return ""
	}
	return strings.TrimSuffix(strings.TrimRight(num(f, 1), "0"), ".") + "× "
}

// rounds is how many rounds the levels ran.
func (r *Report) rounds() int { return max(r.Rounds, 1) }
