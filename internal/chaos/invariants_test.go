package chaos

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/clusteragent/agent/internal/chaos/linearize"
)

func TestLostWrites(t *testing.T) {
	unknownDelete := []porcupine.Operation{{
		Input:  linearize.Input{Op: linearize.OpDelete, Key: "chaos/k1"},
		Output: linearize.WriteResult{Unknown: true},
	}}
	cases := []struct {
		name  string
		acks  []ack
		final []kvEntry
		ops   []porcupine.Operation
		want  []string // substrings, one per violation
	}{
		{
			name:  "latest write kept",
			acks:  []ack{{Key: "chaos/k0", Value: "a", Index: 5}, {Key: "chaos/k0", Value: "b", Index: 9}},
			final: []kvEntry{{Key: "chaos/k0", Value: []byte("b"), CreateIndex: 5, ModifyIndex: 9}},
		},
		{
			name:  "acked write above the final index is lost",
			acks:  []ack{{Key: "chaos/k0", Value: "a", Index: 5}, {Key: "chaos/k0", Value: "b", Index: 9}},
			final: []kvEntry{{Key: "chaos/k0", Value: []byte("a"), CreateIndex: 5, ModifyIndex: 5}},
			want:  []string{`put of "b" to chaos/k0 at index 9 lost`},
		},
		{
			name:  "same index, other value",
			acks:  []ack{{Key: "chaos/k0", Value: "a", Index: 5}},
			final: []kvEntry{{Key: "chaos/k0", Value: []byte("z"), CreateIndex: 5, ModifyIndex: 5}},
			want:  []string{`the key holds "z"`},
		},
		{
			name: "absent after an acked delete",
			acks: []ack{{Key: "chaos/k0", Value: "a", Index: 5}, {Key: "chaos/k0", Delete: true, Index: 7}},
		},
		{
			name: "absent without any delete",
			acks: []ack{{Key: "chaos/k1", Value: "a", Index: 5}},
			want: []string{"ends absent and no later delete"},
		},
		{
			name: "absent after a delete of unknown fate",
			acks: []ack{{Key: "chaos/k1", Value: "a", Index: 5}},
			ops:  unknownDelete,
		},
		{
			name:  "acked delete above the final index is lost",
			acks:  []ack{{Key: "chaos/k0", Delete: true, Index: 11}},
			final: []kvEntry{{Key: "chaos/k0", Value: []byte("a"), CreateIndex: 5, ModifyIndex: 5}},
			want:  []string{"delete of chaos/k0 at index 11 lost"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := lostWrites(tc.acks, tc.final, tc.ops)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d violations %q, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("violation %q does not mention %q", got[i], w)
				}
			}
		})
	}
}

func TestRemovalPasses(t *testing.T) {
	dir := t.TempDir()
	lines := strings.Join([]string{
		`{"@level":"info","@message":"autopilot removal pass","voters":5,"removing":"n4,n5","removing_voters":2,"leader":"n1","min_quorum":3}`,
		`{"@level":"info","@message":"autopilot removal pass","voters":3,"removing":"n2,n3","removing_voters":2,"leader":"n1","min_quorum":0}`,
		`{"@level":"info","@message":"autopilot removal pass","voters":5,"removing":"n1","removing_voters":1,"leader":"n1","min_quorum":0}`,
		`{"@level":"info","@message":"autopilot removal pass","voters":4,"removing":"n4","removing_voters":1,"leader":"n1","min_quorum":4}`,
		`{"@level":"info","@message":"something else","voters":1,"removing":"n1","removing_voters":9,"leader":"n1"}`,
		`not json, but mentions autopilot removal pass`,
	}, "\n")
	if err := os.WriteFile(filepath.Join(dir, "n1.log"), []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	got, passes, err := autopilotViolations(dir)
	if err != nil {
		t.Fatal(err)
	}
	if passes != 4 {
		t.Errorf("counted %d passes, want 4", passes)
	}
	want := []string{"more than ⌊(voters−1)/2⌋", "removes the leader", "below min_quorum"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %d violations", got, len(want))
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("violation %d %q does not mention %q", i, got[i], w)
		}
	}
}

func TestSummarize(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	reports := []Report{
		{Runner: "inproc", Operations: 10, OK: 8, Unknown: 1, Failed: 1, Convergence: ms(100),
			Faults: []FaultRecord{{Kind: KillLeader, Recovered: true, Recovery: ms(300), Outage: ms(900)}, {Kind: Churn}}},
		{Runner: "docker", Operations: 5, OK: 5, Convergence: ms(300), Violations: []string{"x", "y"},
			Faults: []FaultRecord{{Kind: KillLeader, Recovered: true, Recovery: ms(100), Outage: ms(1100)}}},
	}
	s := Summarize(reports)
	if s.Runs != 2 || s.FailedRuns != 1 || s.Violations != 2 || s.Operations != 15 || s.OK != 13 || s.ByRunner["docker"] != 1 {
		t.Fatalf("summary %+v", s)
	}
	if len(s.Faults) != 2 || s.Faults[0].Kind != KillLeader || s.Faults[1].Kind != Churn {
		t.Fatalf("faults %+v", s.Faults)
	}
	kl := s.Faults[0]
	if kl.Injected != 2 || kl.RecoveryP50 != ms(100) || kl.RecoveryMax != ms(300) || kl.OutageP99 != ms(1100) {
		t.Errorf("kill-leader %+v", kl)
	}
	if s.Faults[1].Unrecovered != 1 {
		t.Errorf("churn %+v", s.Faults[1])
	}
	if md := s.Markdown(); !strings.Contains(md, "| kill-leader | 2 | 0 | 100ms | 300ms | 300ms | 900ms | 1.1s |") {
		t.Errorf("markdown:\n%s", md)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i))
	}
	if p := percentile(ds, 50); p != 50 {
		t.Errorf("p50 = %d", p)
	}
	if p := percentile(ds, 99); p != 99 {
		t.Errorf("p99 = %d", p)
	}
	if p := percentile(nil, 50); p != 0 {
		t.Errorf("p50 of nothing = %d", p)
	}
	if ds[0] != 100 {
		t.Error("percentile sorted its input in place")
	}
}

func TestUsableKindsAndShuffle(t *testing.T) {
	got := usableKinds(nil, []FaultKind{Churn, KillLeader, PauseLeader})
	if !slices.Equal(got, []FaultKind{KillLeader, PauseLeader, Churn}) {
		t.Errorf("usable kinds %v", got)
	}
	if got := usableKinds([]FaultKind{OneWayCut, KillLeader, KillLeader}, []FaultKind{KillLeader}); !slices.Equal(got, []FaultKind{KillLeader}) {
		t.Errorf("usable kinds %v", got)
	}
	a, b := shuffled(AllFaultKinds, 1), shuffled(AllFaultKinds, 1)
	if !slices.Equal(a, b) {
		t.Error("same seed, different order")
	}
	c := shuffled(AllFaultKinds, 2)
	slices.Sort(a)
	slices.Sort(c)
	if !slices.Equal(a, c) {
		t.Error("shuffle lost or duplicated kinds")
	}
}

func TestIndexConflicts(t *testing.T) {
	get := func(key, value string, modify uint64) porcupine.Operation {
		return porcupine.Operation{
			Input:  linearize.Input{Op: linearize.OpGet, Key: key},
			Output: linearize.GetResult{Found: true, Value: value, CreateIndex: 1, ModifyIndex: modify},
		}
	}
	acks := []ack{{Key: "chaos/k0", Value: "a", Index: 5}, {Key: "chaos/k1", Delete: true, Index: 6}}
	if got := indexConflicts(acks, []porcupine.Operation{get("chaos/k0", "a", 5), get("chaos/k0", "a", 5)}); len(got) != 0 {
		t.Errorf("consistent claims reported: %q", got)
	}
	got := indexConflicts(append(acks, ack{Key: "chaos/k2", Value: "b", Index: 5}), []porcupine.Operation{get("chaos/k3", "c", 6)})
	if len(got) != 2 || !strings.Contains(got[0], "log index 5 holds two writes") || !strings.Contains(got[1], "log index 6") {
		t.Errorf("conflicts %q, want one at index 5 and one at 6", got)
	}
}
