package report

import (
	"bytes"
	"encoding/json"
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
	var text, md bytes.Buffer
	if err := r.Text(&text); err != nil {
		t.Fatal(err)
	}
	if err := r.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"text": text.String(), "markdown": md.String()} {
		for _, want := range []string{"agent run → voter", "10.250", "includes stabilization", "gossip at scale skipped"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q:\n%s", name, want, out)
			}
		}
	}
}
