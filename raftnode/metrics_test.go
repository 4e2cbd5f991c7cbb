package raftnode

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/clusteragent/agent/internal/testutil"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	o := baseOptions(t, "m")
	o.BootstrapPreferred = true
	o.Registerer = reg
	n := startNode(t, o)
	waitLeader(t, n)
	applyN(t, n, "m", 3)

	var fams map[string]*dto.MetricFamily
	testutil.WaitFor(t, waitTimeout, func() error {
		got, err := reg.Gather()
		if err != nil {
			return err
		}
		fams = make(map[string]*dto.MetricFamily, len(got))
		for _, f := range got {
			fams[f.GetName()] = f
		}
		// Leadership is counted by the forwarder goroutine, asynchronously.
		if c := value(fams, "raft_leadership_changes_total", ""); c < 1 {
			return fmt.Errorf("raft_leadership_changes_total = %v", c)
		}
		if a := value(fams, "raft_applied_index", ""); a < 3 {
			return fmt.Errorf("raft_applied_index = %v", a)
		}
		return nil
	})
	for _, name := range []string{"raft_leadership_changes_total", "raft_log_size_bytes", "raft_apply_latency_seconds",
		"raft_state", "raft_term", "raft_commit_index", "raft_applied_index", "raft_last_contact_seconds"} {
		if fams[name] == nil {
			t.Errorf("metric %s missing", name)
		}
	}
	if h := fams["raft_apply_latency_seconds"].GetMetric()[0].GetHistogram(); h.GetSampleCount() != 3 {
		t.Errorf("apply latency samples = %d, want 3", h.GetSampleCount())
	}
	for state, want := range map[string]float64{"leader": 1, "follower": 0, "candidate": 0, "shutdown": 0} {
		if got := value(fams, "raft_state", state); got != want {
			t.Errorf("raft_state{state=%q} = %v, want %v", state, got, want)
		}
	}
	if v := value(fams, "raft_log_size_bytes", ""); v <= 0 {
		t.Errorf("raft_log_size_bytes = %v", v)
	}
	if v := value(fams, "raft_term", ""); v < 1 {
		t.Errorf("raft_term = %v", v)
	}
	if v := value(fams, "raft_last_contact_seconds", ""); v != 0 {
		t.Errorf("raft_last_contact_seconds on the leader = %v", v)
	}

	// A second node on the same registry is refused (names would clash)...
	clash := baseOptions(t, "m2")
	clash.Registerer = reg
	if _, err := NewNode(clash); err == nil {
		t.Fatal("two nodes registered on one registry")
	}
	// ...but after Close the metrics are gone and the registry is reusable.
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := reg.Gather(); len(got) != 0 {
		t.Fatalf("%d metric families left after Close", len(got))
	}
	again := baseOptions(t, "m3")
	again.Registerer = reg
	startNode(t, again)
}

// value returns the gauge or counter value of the series of name whose
// "state" label is state ("" for unlabelled metrics), or -1.
func value(fams map[string]*dto.MetricFamily, name, state string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	for _, m := range f.GetMetric() {
		match := state == ""
		for _, l := range m.GetLabel() {
			if l.GetName() == "state" && l.GetValue() == state {
				match = true
			}
		}
		if !match {
			continue
		}
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	return -1
}
