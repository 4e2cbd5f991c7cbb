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

func sample(withEtcd bool) *Report {
	r := &Report{
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Host:    ThisHost(),
		Plan:    load.Plan{Clients: []int{1, 16}, Warmup: time.Second, Duration: 5 * time.Second, ValueSize: 256},
		Agent: Side{System: "agent", Results: []load.Result{
			{Name: "put", Clients: 1, OpsPerSec: 1000, P50Ms: 1, P99Ms: 2, MaxMs: 3},
			{Name: "put", Clients: 16, OpsPerSec: 4000, P50Ms: 4, P99Ms: 8, MaxMs: 9, Errors: 2},
		}, Memory: Memory{IdleRSSBytes: 30 << 20, LoadRSSBytes: 60 << 20, LoadClients: 16}},
	}
	if withEtcd {
		r.Etcd = &Side{System: "etcd", Version: "v3.7.3", Results: []load.Result{
			{Name: "put", Clients: 1, OpsPerSec: 500, P50Ms: 2, P99Ms: 4, MaxMs: 5},
		}, Memory: Memory{IdleRSSBytes: 60 << 20, LoadRSSBytes: 120 << 20, LoadClients: 16}}
	}
	return r
}

func TestTextWithoutEtcd(t *testing.T) {
	var b bytes.Buffer
	if err := sample(false).Text(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"ops/s", "1000", "4000", "30.0", "60.0", "16-client put"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "etcd") {
		t.Errorf("table without etcd mentions etcd:\n%s", out)
	}
}

func TestMarkdownRatios(t *testing.T) {
	var b bytes.Buffer
	if err := sample(true).Markdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(out, "\n")
	var rows []string
	for _, l := range lines {
		if strings.HasPrefix(l, "|") {
			rows = append(rows, l)
		}
	}
	// header, separator, two levels, two memory rows
	if len(rows) != 6 {
		t.Fatalf("got %d table lines, want 6:\n%s", len(rows), out)
	}
	if !strings.Contains(rows[2], "| 2.00 | 0.50 |") {
		t.Errorf("1-client row lacks ratios 2.00 (ops/s) and 0.50 (p99): %s", rows[2])
	}
	if !strings.Contains(rows[3], "| - | - |") {
		t.Errorf("16-client row without etcd figures should show dashes: %s", rows[3])
	}
	if !strings.Contains(rows[4], "0.50") {
		t.Errorf("idle memory row lacks ratio 0.50: %s", rows[4])
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	r := sample(true)
	md, js, err := r.WriteFiles(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Etcd == nil || back.Etcd.Version != "v3.7.3" || len(back.Agent.Results) != 2 || back.Plan.Duration != 5*time.Second {
		t.Errorf("JSON round trip lost data: %+v", back)
	}
	for _, p := range []string{md, filepath.Join(dir, "out", "latest.md"), filepath.Join(dir, "out", "latest.json")} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
}

func TestTimingsAndNotes(t *testing.T) {
	r := sample(false)
	r.Timings = []Timing{{Name: "agent run → voter", Seconds: 10.25, Note: "includes stabilization"}}
	r.Notes = []string{"gossip at scale skipped"}
	outs := renderings(t, r)
	for name, out := range outs {
		for _, want := range []string{"agent run → voter", "10.250", "includes stabilization", "gossip at scale skipped"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q:\n%s", name, want, out)
			}
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{0.9, 1.8, 0.7, 0.8, 5}, 0.9},
	} {
		in := append([]float64(nil), c.in...)
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Errorf("Median reordered its input: %v", c.in)
				break
			}
		}
	}
	r := NewRepeated("x", []float64{0.9, 1.8, 0.7}, "n")
	if r.MedianSeconds != 0.9 || r.MaxSeconds != 1.8 {
		t.Errorf("NewRepeated = %+v", r)
	}
}

func TestStabilityElections(t *testing.T) {
	for _, c := range []struct {
		s       Stability
		want    int
		changed bool
	}{
		{Stability{TermBefore: 3, TermAfter: 3, LeaderBefore: "n1", LeaderAfter: "n1"}, 0, false},
		{Stability{TermBefore: 3, TermAfter: 5, LeaderBefore: "n1", LeaderAfter: "n2"}, 2, true},
		{Stability{TermBefore: 3, TermAfter: 4, LeaderBefore: "n1", LeaderAfter: "n1"}, 1, false},
		{Stability{TermBefore: 0, TermAfter: 4}, -1, false},
		{Stability{TermBefore: 5, TermAfter: 4, LeaderBefore: "n1", LeaderAfter: "n1"}, -1, false},
	} {
		if got := c.s.Elections(); got != c.want {
			t.Errorf("%+v: Elections() = %d, want %d", c.s, got, c.want)
		}
		if got := c.s.LeaderChanged(); got != c.changed {
			t.Errorf("%+v: LeaderChanged() = %v", c.s, got)
		}
	}
}

func TestReferenceJudgement(t *testing.T) {
	ref := &Reference{Fsyncs: 2000, FsyncBytes: 300, FsyncMedianMs: 2, FsyncP99Ms: 5, RTTs: 2000, RTTBytes: 256, RTTMedianMs: 0.05}
	ref.SetFloor()
	if math.Abs(ref.FloorMs-4.05) > 1e-9 || math.Abs(ref.TargetMs-6.075) > 1e-9 {
		t.Fatalf("floor %v, target %v", ref.FloorMs, ref.TargetMs)
	}
	if !strings.Contains(ref.Line(), "no single-client PUT") {
		t.Errorf("unjudged line: %s", ref.Line())
	}
	ref.Judge(6)
	if ref.Met == nil || !*ref.Met || !strings.HasSuffix(ref.Line(), "p50 = 6.000 ms: met") {
		t.Errorf("6 ms against %.3f: %s", ref.TargetMs, ref.Line())
	}
	ref.Judge(6.1)
	if *ref.Met || !strings.HasSuffix(ref.Line(), "not met") {
		t.Errorf("6.1 ms against %.3f: %s", ref.TargetMs, ref.Line())
	}
	for _, want := range []string{"2 fsyncs + RTT = 4.050 ms", "×1.5 = 6.075 ms"} {
		if !strings.Contains(ref.Line(), want) {
			t.Errorf("line lacks %q: %s", want, ref.Line())
		}
	}
}

// full is a report with every kind of table.
func full() *Report {
	r := sample(false)
	r.Agent.Stability = []Stability{
		{Name: "put", Clients: 1, TermBefore: 2, TermAfter: 2, LeaderBefore: "n1", LeaderAfter: "n1"},
		{Name: "put", Clients: 16, TermBefore: 2, TermAfter: 3, LeaderBefore: "n1", LeaderAfter: "n3"},
	}
	ref := &Reference{Fsyncs: 100, FsyncBytes: 300, FsyncMedianMs: 1, RTTs: 100, RTTBytes: 256, RTTMedianMs: 0.1}
	ref.SetFloor()
	ref.Judge(1)
	r.Reference = ref
	fo := NewRepeated("kill -9 leader → first write", []float64{0.8, 2.5, 0.9}, "500 ms per attempt")
	fo.Target = &Target{Text: "median < 1 s, max < 2 s", Met: false}
	r.Repeats = []Repeated{fo}
	r.Crashes = []Crash{{ID: "n4", NonVoterSeconds: 0.4, VoterSeconds: 2.5, DeadSeconds: 1.25, PrunedSeconds: 6.5}}
	r.Failovers = []Failover{{Killed: "n1", NewLeader: "n3", Seconds: 0.8, Attempts: 7, TimedOut: 1, Cut: []CutAttempt{{Via: "n2", StartSeconds: 0.3}}, LastError: "PUT x: 503 | no\nleader",
		RejoinSeconds: 1.5, TermBefore: 2, TermAfter: 3}}
	return r
}

func TestRepeatsRendering(t *testing.T) {
	r := full()
	outs := renderings(t, r)
	for name, out := range outs {
		for _, want := range []string{
			"elections", "1 (leader n1 → n3)", "leader changed during put 16 clients: n1 → n3, term 2 → 3",
			"2 fsyncs + RTT = 2.100 ms", "×1.5 = 3.150 ms", "p50 = 1.000 ms: met",
			"kill -9 leader → first write", "0.900", "2.500", "median < 1 s, max < 2 s: not met", "0.800 2.500 0.900",
			"n4", "5.250", // dead → pruned
			"restart → whole s", "2 → 3", "1 (n2 at 0.300)",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q:\n%s", name, want, out)
			}
		}
	}
	if !strings.Contains(outs["text"], "WARNING: leader changed") {
		t.Errorf("text does not flag the leader change:\n%s", outs["text"])
	}
	// The error's pipe and newline must not break the Markdown row.
	for _, l := range strings.Split(outs["markdown"], "\n") {
		if strings.Contains(l, "503") && !strings.Contains(l, `503 \| no leader`) {
			t.Errorf("error cell not escaped: %s", l)
		}
	}
	var back Report
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Reference == nil || back.Reference.Met == nil || !*back.Reference.Met || len(back.Repeats) != 1 || back.Repeats[0].Target == nil ||
		len(back.Crashes) != 1 || len(back.Failovers) != 1 || len(back.Agent.Stability) != 2 {
		t.Errorf("JSON round trip lost data: %s", b)
	}
}

// renderings renders r as text and as Markdown, by name.
func renderings(t *testing.T, r *Report) map[string]string {
	t.Helper()
	var text, md bytes.Buffer
	if err := r.Text(&text); err != nil {
		t.Fatal(err)
	}
	if err := r.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"text": text.String(), "markdown": md.String()}
}
