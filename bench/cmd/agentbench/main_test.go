package main

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/bench/agentcluster"
	"github.com/clusteragent/agent/bench/load"
	"github.com/clusteragent/agent/bench/report"
)

func TestAutopilotBlockAndNotes(t *testing.T) {
	o := options{membership: true}
	def := agent.DefaultConfig()
	c := agent.DefaultConfig()
	if o.configure(&c); !reflect.DeepEqual(c, def) {
		t.Errorf("defaults: configure changed the config to %+v", c.Autopilot)
	}
	if n := o.notes(); len(n) != 1 || !strings.Contains(n[0], "defaults") {
		t.Errorf("defaults: notes %q", n)
	}
	o.stabilization, o.reapAfter = 2*time.Second, 3*time.Second
	c = agent.DefaultConfig()
	o.configure(&c)
	want := def
	want.Autopilot.ServerStabilizationTime, want.Autopilot.DeadServerReapAfter = 2*time.Second, 3*time.Second
	if !reflect.DeepEqual(c, want) {
		t.Errorf("overrides: autopilot %+v, want %+v", c.Autopilot, want.Autopilot)
	}
	if n := o.notes(); len(n) != 2 {
		t.Errorf("overrides: notes %q, want two", n)
	}
}

func TestStabilityFromReadings(t *testing.T) {
	st := func(state string, term uint64) agentcluster.Status {
		return agentcluster.Status{State: state, Term: term}
	}
	l := load.Level{Name: "put", Clients: 64}
	before := []termReading{{id: "n1", st: st("leader", 3)}, {id: "n2", st: st("follower", 3)}, {id: "n3", st: st("follower", 3)}}
	quiet := stability(l, before, before)
	if quiet.Elections() != 0 || quiet.LeaderChanged() || quiet.LeaderBefore != "n1" || quiet.Warning() != "" {
		t.Errorf("quiet level: %+v, warning %q", quiet, quiet.Warning())
	}
	// n1 was deposed and has not noticed: n2 leads in a later term.
	after := []termReading{{id: "n1", st: st("leader", 3)}, {id: "n2", st: st("leader", 5)}, {id: "n3", err: errors.New("timeout")}}
	moved := stability(l, before, after)
	if moved.Elections() != 2 || moved.LeaderAfter != "n2" || !moved.LeaderChanged() || len(moved.Unanswered) != 1 || moved.Unanswered[0] != "n3" {
		t.Errorf("leader change: %+v", moved)
	}
	for _, want := range []string{"leader changed during put 64 clients: n1 → n2", "term 3 → 5", "no status from n3"} {
		if !strings.Contains(moved.Warning(), want) {
			t.Errorf("warning %q lacks %q", moved.Warning(), want)
		}
	}
}

// TestWriteUntilAcceptedBoundsEachAttempt writes through a node that holds
// every request and one that refuses twice, then accepts: the held
// attempts must cost no more than the per-attempt timeout each.
func TestWriteUntilAcceptedBoundsEachAttempt(t *testing.T) {
	release := make(chan struct{})
	hold := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a client gone only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hold.Close()
	defer close(release) // before Close, which waits for the handlers
	var calls atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			http.Error(w, `{"error":"no leader"}`, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer flaky.Close()
	var clients []*agentcluster.KVClient
	for _, u := range []string{hold.URL, flaky.URL} {
		kc, err := agentcluster.NewKVClient(u)
		if err != nil {
			t.Fatal(err)
		}
		defer kc.Close()
		clients = append(clients, kc)
	}
	const perAttempt = 100 * time.Millisecond
	began := time.Now()
	res, err := writeUntilAccepted(context.Background(), clients, perAttempt, time.Millisecond, time.Minute)
	took := time.Since(began)
	if err != nil {
		t.Fatal(err)
	}
	// hold, flaky (503), hold, flaky (503), hold, flaky (ok).
	if res.attempts != 6 || len(res.cut) != 3 || res.via != 1 || res.lastErr == nil {
		t.Errorf("attempts %d, timed out %d, via %d, last error %v; want 6, 3, 1 and the held attempt's timeout", res.attempts, len(res.cut), res.via, res.lastErr)
	}
	for i, c := range res.cut {
		if c.via != 0 || c.began.Before(began) || (i > 0 && c.began.Sub(res.cut[i-1].began) < perAttempt) {
			t.Errorf("cut attempt %d: via %d, began %s after the start", i, c.via, c.began.Sub(began))
		}
	}
	if took > 3*perAttempt+2*time.Second {
		t.Errorf("took %s for three held attempts of %s", took, perAttempt)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := writeUntilAccepted(ctx, clients[:1], perAttempt, time.Millisecond, time.Minute); err == nil {
		t.Error("writeUntilAccepted with a cancelled context succeeded")
	}
}

func TestSummariesJudgeTargets(t *testing.T) {
	o := options{reapAfter: 5 * time.Second}
	crashes := []report.Crash{
		{ID: "n4", NonVoterSeconds: 0.5, VoterSeconds: 2.6, DeadSeconds: 1.2, PrunedSeconds: 7.0},
		{ID: "n5", NonVoterSeconds: 1.5, VoterSeconds: 2.7, DeadSeconds: 2.5, PrunedSeconds: 8.7},
		{ID: "n6", NonVoterSeconds: 0.7, VoterSeconds: 2.8, DeadSeconds: 1.4, PrunedSeconds: 7.6},
	}
	byName := map[string]report.Repeated{}
	for _, r := range crashSummaries(crashes, o) {
		byName[r.Name] = r
	}
	check := func(name string, median float64, met bool) {
		t.Helper()
		r, ok := byName[name]
		if !ok {
			t.Fatalf("no summary %q", name)
		}
		if math.Abs(r.MedianSeconds-median) > 1e-9 || r.Target == nil || r.Target.Met != met {
			t.Errorf("%s: median %v, target %+v; want %v, met %v", name, r.MedianSeconds, r.Target, median, met)
		}
	}
	check("agent run → non-voter", 0.7, true)
	check("kill -9 → dead in gossip", 1.4, true)
	check("dead → pruned", 6.2, false) // 5.8, 6.2, 6.2: over 5 s + 1 s
	if v := byName["agent run → voter"]; v.Target != nil || !strings.Contains(v.Note, "10s") {
		t.Errorf("voter summary: %+v", v)
	}

	fs := []report.Failover{{Seconds: 0.8, Attempts: 3}, {Seconds: 0.9, Attempts: 4}, {Seconds: 2.1, Attempts: 9}}
	for _, r := range failoverSummaries(fs) {
		byName[r.Name] = r
	}
	w := byName["kill -9 leader → first write"]
	if w.MedianSeconds != 0.9 || w.MaxSeconds != 2.1 || w.Target == nil || w.Target.Met || !strings.Contains(w.Note, "attempts 3, 4, 9") {
		t.Errorf("failover summary: %+v", w)
	}
	if crashSummaries(nil, o) != nil || failoverSummaries(nil) != nil {
		t.Error("summaries of no repeats")
	}
}
