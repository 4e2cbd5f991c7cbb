package report

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/bench/load"
)

// put is one put level's result.
func put(clients int, ops, p50, p99, maxMs float64) load.Result {
	return load.Result{Name: "put", Clients: clients, OpsPerSec: ops, P50Ms: p50, P99Ms: p99, MaxMs: maxMs}
}

// threeRounds is a run of three rounds, ours then etcd's in each, added
// the way the harness adds them. At 64 clients the per-round ops/s ratios
// are 2, 1 and 0.5: their median (1) is not the ratio of the medians
// (2000/3000).
func threeRounds() *Report {
	r := &Report{
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Host:    ThisHost(),
		Plan:    load.Plan{Clients: []int{1, 64}, Warmup: time.Second, Duration: 2 * time.Second, ValueSize: 256},
		Rounds:  3,
		Agent:   Side{Memory: Memory{IdleRSSBytes: 30 << 20}},
		Etcd:    &Side{System: "etcd", Version: "v3.7.3", Memory: Memory{IdleRSSBytes: 60 << 20}},
	}
	ours := [][]load.Result{
		{put(1, 500, 1.0, 2.0, 5), put(64, 1000, 4, 10, 40)},
		{put(1, 600, 0.9, 3.0, 6), put(64, 3000, 3, 8, 20)},
		{put(1, 400, 1.2, 2.5, 9), put(64, 2000, 5, 12, 30)},
	}
	theirs := [][]load.Result{
		{put(1, 400, 1.5, 4.0, 7), put(64, 500, 6, 20, 50)},
		{put(1, 500, 1.4, 3.0, 8), put(64, 3000, 5, 16, 60)},
		{put(1, 800, 1.1, 2.0, 9), put(64, 4000, 4, 24, 70)},
	}
	for i := range ours {
		in := &Side{System: "agent", Results: ours[i], Memory: Memory{LoadRSSBytes: uint64(40+10*(i%2)) << 20, LoadClients: 64},
			Stability: []Stability{
				{Name: "put", Clients: 1, TermBefore: 2, TermAfter: 2, LeaderBefore: "n1", LeaderAfter: "n1"},
				{Name: "put", Clients: 64, TermBefore: 2, TermAfter: 2, LeaderBefore: "n1", LeaderAfter: "n1"},
			}}
		if i == 1 {
			in.Stability[1] = Stability{Name: "put", Clients: 64, TermBefore: 2, TermAfter: 3, LeaderBefore: "n1", LeaderAfter: "n2"}
		}
		r.Agent.AddRound(i+1, in)
		r.Etcd.AddRound(i+1, &Side{System: "etcd", Results: theirs[i], Memory: Memory{LoadRSSBytes: uint64(100+i) << 20, LoadClients: 64}})
	}
	return r
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestAddRoundMarksRoundsAndKeepsPeakMemory(t *testing.T) {
	r := threeRounds()
	if len(r.Agent.Results) != 6 || r.Agent.Results[0].Round != 1 || r.Agent.Results[5].Round != 3 || r.Agent.Stability[3].Round != 2 {
		t.Fatalf("rounds not marked: %+v %+v", r.Agent.Results, r.Agent.Stability)
	}
	m := r.Agent.Memory
	if m.IdleRSSBytes != 30<<20 || m.LoadRSSBytes != 50<<20 || m.LoadClients != 64 || len(m.LoadRSSByRound) != 3 || m.LoadRSSByRound[2] != 40<<20 {
		t.Errorf("agent memory %+v: want idle 30 MiB kept, peak 50 MiB of 40, 50, 40", m)
	}
	if e := r.Etcd.Memory; e.IdleRSSBytes != 60<<20 || e.LoadRSSBytes != 102<<20 || r.Etcd.Version != "v3.7.3" {
		t.Errorf("etcd side %+v", r.Etcd)
	}
}

func TestLevelsMediansAndPerRoundRatios(t *testing.T) {
	ls := threeRounds().Levels()
	if len(ls) != 2 {
		t.Fatalf("got %d levels, want 2: %+v", len(ls), ls)
	}
	l := ls[1]
	if l.Name != "put" || l.Clients != 64 || l.Agent.Rounds != 3 || l.Etcd == nil {
		t.Fatalf("level %+v", l)
	}
	// Each figure's own median.
	if a := l.Agent; a.OpsPerSec != 2000 || a.P50Ms != 4 || a.P99Ms != 10 || a.MaxMs != 30 {
		t.Errorf("agent medians %+v, want 2000 ops/s, p50 4, p99 10, max 30", a)
	}
	if e := l.Etcd; e.OpsPerSec != 3000 || e.P99Ms != 20 || e.MaxMs != 60 {
		t.Errorf("etcd medians %+v", e)
	}
	o := l.OpsRatio
	if o == nil || len(o.Each) != 3 || !near(o.Each[0], 2) || !near(o.Each[1], 1) || !near(o.Each[2], 0.5) ||
		!near(o.Median, 1) || !near(o.Min, 0.5) || !near(o.Max, 2) {
		t.Errorf("ops/s ratio %+v: want each 2, 1, 0.5, median 1 (not 2000/3000)", o)
	}
	p := l.P99Ratio // 10/20, 8/16, 12/24
	if p == nil || !near(p.Median, 0.5) || !near(p.Min, 0.5) || !near(p.Max, 0.5) {
		t.Errorf("p99 ratio %+v", p)
	}
	// A round etcd did not measure, or measured as zero, has no ratio.
	r := threeRounds()
	r.Etcd.Results = r.Etcd.Results[:4]
	r.Etcd.Results[1].OpsPerSec = 0
	if o := r.Levels()[1].OpsRatio; o == nil || len(o.Each) != 1 || !near(o.Median, 1) {
		t.Errorf("with rounds 1 and 3 missing: %+v, want round 2's alone", o)
	}
}

func TestEtcdTargets(t *testing.T) {
	byText := map[string]EtcdTarget{}
	for _, tt := range threeRounds().EtcdTargets() {
		byText[tt.Text] = tt
	}
	for _, c := range []struct {
		text     string
		measured bool
		met      bool
	}{
		{"PUT ops/s at 1 client ≥ 1.5× etcd's", true, false}, // 1.25, 1.2, 0.5
		{"PUT ops/s at 16 clients ≥ 1.5× etcd's", false, false},
		{"PUT ops/s at 64 clients ≥ 2× etcd's", true, false}, // median 1
		{"GET ops/s at 1 client ≥ 1.5× etcd's", false, false},
		{"GET ops/s at 16 clients ≥ 1.5× etcd's", false, false},
		{"GET ops/s at 64 clients ≥ 1.5× etcd's", false, false},
		{"PUT p99 at 1 client ≤ etcd's", true, true}, // 0.5, 1, 1.25
		{"PUT p99 at 64 clients ≤ etcd's", true, true},
		{"leader RSS under the 64-client put load ≤ etcd's", true, true}, // 50 MiB against 102
	} {
		tt, ok := byText[c.text]
		if !ok {
			t.Errorf("no target %q in %v", c.text, byText)
			continue
		}
		if (tt.Ratio != nil) != c.measured || tt.Met != c.met {
			t.Errorf("%s: ratio %+v, met %v; want measured %v, met %v", c.text, tt.Ratio, tt.Met, c.measured, c.met)
		}
	}
	if len(byText) != 9 {
		t.Errorf("got %d targets, want 9: %v", len(byText), byText)
	}
	if l := byText["PUT ops/s at 64 clients ≥ 2× etcd's"].Line(); l != "PUT ops/s at 64 clients ≥ 2× etcd's: ours/etcd 1.00 (median of 3 rounds, each 0.50 to 2.00): not met" {
		t.Errorf("line %q", l)
	}
	if l := byText["PUT ops/s at 16 clients ≥ 1.5× etcd's"].Line(); l != "PUT ops/s at 16 clients ≥ 1.5× etcd's: not measured" {
		t.Errorf("line %q", l)
	}
	if sample(false).EtcdTargets() != nil {
		t.Error("targets against etcd without etcd")
	}
	// A p99 exactly etcd's, and twice etcd's ops/s exactly, meet them.
	one := sample(true)
	one.Agent.Results = []load.Result{put(64, 1000, 1, 4, 5)}
	one.Etcd.Results = []load.Result{put(64, 500, 1, 4, 5)}
	for _, tt := range one.EtcdTargets() {
		if tt.Ratio != nil && !tt.Met {
			t.Errorf("%s", tt.Line())
		}
		if tt.Ratio != nil && strings.Contains(tt.Line(), "rounds") {
			t.Errorf("one round's line speaks of rounds: %s", tt.Line())
		}
	}
}

func TestRenderRounds(t *testing.T) {
	r := threeRounds()
	outs := renderings(t, r)
	for name, out := range outs {
		for _, want := range []string{
			"PUT and GET: medians of 3 rounds, ours then etcd's in each",
			"edians of 3 rounds, each figure on its own",
			"median of the per-round ratios ours/etcd",
			"1.00 (0.50–2.00)", // ops/s ratio at 64 clients
			"0.50 (0.50–0.50)", // p99 ratio at 64 clients
			"1 (leader n1 → n2 in round 2)",
			"round 2: leader changed during put 64 clients: n1 → n2",
			"peak of 3 rounds (MiB)", "50.0", "102.0",
			"PUT ops/s at 64 clients ≥ 2× etcd's: ours/etcd 1.00 (median of 3 rounds, each 0.50 to 2.00): not met",
			"PUT ops/s at 16 clients ≥ 1.5× etcd's: not measured",
			"PUT p99 at 1 client ≤ etcd's: ours/etcd 1.00 (median of 3 rounds, each 0.50 to 1.25): met",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q:\n%s", name, want, out)
			}
		}
	}
	if !strings.Contains(outs["text"], "target: PUT p99 at 64 clients ≤ etcd's") {
		t.Errorf("text has no target lines:\n%s", outs["text"])
	}
	// The columns stay aligned with the multi-byte dashes and arrows.
	var widths []int
	for _, l := range strings.Split(outs["text"], "\n") {
		if strings.HasPrefix(l, "operation") || strings.HasPrefix(l, "put ") || strings.HasPrefix(l, "leader RSS") {
			widths = append(widths, len([]rune(l)))
		}
	}
	for _, w := range widths {
		if w != widths[0] {
			t.Errorf("table lines of %v runes, not aligned:\n%s", widths, outs["text"])
			break
		}
	}
}

// TestOneRoundLooksAsBefore pins the table of a single round to the one
// the suite printed before it had rounds: no ranges, no round notes.
func TestOneRoundLooksAsBefore(t *testing.T) {
	r := sample(true)
	r.Rounds = 1
	r.Agent.Stability = []Stability{{Name: "put", Clients: 16, Round: 1, TermBefore: 2, TermAfter: 3, LeaderBefore: "n1", LeaderAfter: "n3"}}
	var b bytes.Buffer
	if err := r.Text(&b); err != nil {
		t.Fatal(err)
	}
	want := `operation                        clients  ops/s  p50 ms  p99 ms  max ms  errors           elections  etcd ops/s  etcd p50 ms  etcd p99 ms  etcd max ms  ops/s ours/etcd  p99 ours/etcd
put                                    1   1000    1.00    2.00    3.00       0                   -         500         2.00         4.00         5.00             2.00           0.50
put                                   16   4000    4.00    8.00    9.00       2  1 (leader n1 → n3)           -            -            -            -                -              -
leader RSS idle (MiB)                      30.0                                                            60.0                                                    0.50
leader RSS, 16-client put (MiB)            60.0                                                           120.0                                                    0.50
`
	// Trailing blanks (the memory rows' empty last cell) do not count.
	lines := strings.Split(b.String(), "\n")
	var got strings.Builder
	for _, l := range lines[1:6] {
		got.WriteString(strings.TrimRight(l, " ") + "\n")
	}
	if got.String() != want {
		t.Errorf("one round's table:\n%s\nwant:\n%s", got.String(), want)
	}
	if !strings.Contains(b.String(), "\nWARNING: leader changed during put 16 clients: n1 → n3, term 2 → 3\n") {
		t.Errorf("one round's warning changed:\n%s", b.String())
	}
	for _, not := range []string{"round", "median", "–"} {
		if strings.Contains(b.String(), not) {
			t.Errorf("one round's output mentions %q:\n%s", not, b.String())
		}
	}
}

func TestJSONKeepsRoundsAndSummaries(t *testing.T) {
	dir := t.TempDir()
	_, js, err := threeRounds().WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Report
		Levels      []LevelSummary `json:"levels"`
		EtcdTargets []EtcdTarget   `json:"etcd_targets"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Rounds != 3 || len(back.Agent.Results) != 6 || len(back.Etcd.Results) != 6 || back.Agent.Results[4].Round != 3 ||
		len(back.Agent.Memory.LoadRSSByRound) != 3 || len(back.Agent.Stability) != 6 {
		t.Errorf("raw rounds lost: %s", b)
	}
	if len(back.Levels) != 2 || back.Levels[1].OpsRatio == nil || len(back.Levels[1].OpsRatio.Each) != 3 || len(back.EtcdTargets) != 9 {
		t.Errorf("summaries lost: %+v %+v", back.Levels, back.EtcdTargets)
	}
	if _, err := os.Stat(filepath.Join(dir, "latest.json")); err != nil {
		t.Error(err)
	}
}
