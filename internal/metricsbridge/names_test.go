package metricsbridge

import (
	"strings"
	"testing"
	"unicode/utf8"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/prometheus/common/model"
)

func TestMetricName(t *testing.T) {
	cases := map[string]struct {
		key  []string
		want string
	}{
		"camelCase to snake_case": {[]string{"raft", "commitTime"}, "raft_commit_time"},
		"nested camelCase":        {[]string{"raft", "rpc", "appendEntries", "storeLogs"}, "raft_rpc_append_entries_store_logs"},
		"acronym is one word":     {[]string{"memberlist", "RPCTime"}, "memberlist_rpctime"},
		"digit then upper":        {[]string{"raft", "v2Store"}, "raft_v2_store"},
		"dots and dashes":         {[]string{"raft", "rpc.append-entries"}, "raft_rpc_append_entries"},
		"colon is not kept":       {[]string{"memberlist", "node:a"}, "memberlist_node_a"},
		"non-ASCII":               {[]string{"raft", "ü"}, "raft___"},
		"leading digit":           {[]string{"9lives"}, "_9lives"},
		"empty key":               {nil, ""},
		"one empty part":          {[]string{""}, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := metricName(tc.key); got != tc.want {
				t.Fatalf("metricName(%q) = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}

func TestCounterName(t *testing.T) {
	cases := map[string]struct {
		key  []string
		want string
	}{
		"gets _total":         {[]string{"raft", "apply"}, "raft_apply_total"},
		"keeps one _total":    {[]string{"raft", "requests_total"}, "raft_requests_total"},
		"camelCase":           {[]string{"memberlist", "msg", "deadNode"}, "memberlist_msg_dead_node_total"},
		"state counter gone":  {[]string{"raft", "state", "leader"}, ""},
		"follower gone":       {[]string{"raft", "state", "follower"}, ""},
		"candidate gone":      {[]string{"raft", "state", "candidate"}, ""},
		"other state counter": {[]string{"raft", "state", "shutdown"}, "raft_state_shutdown_total"},
		"empty key":           {nil, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := counterName(tc.key); got != tc.want {
				t.Fatalf("counterName(%q) = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}

func TestLabelName(t *testing.T) {
	cases := map[string]string{
		"peer_id":   "peer_id",
		"rpc-type":  "rpc_type",
		"__name__":  "name__",
		"_":         "label_",
		"":          "label_",
		"1st":       "label_1st",
		"__1":       "label_1",
		"with.dots": "with_dots",
		"rpcType":   "rpc_type",
	}
	for in, want := range cases {
		if got := labelName(in); got != want {
			t.Errorf("labelName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCleanLabels(t *testing.T) {
	clean := []gometrics.Label{{Name: "peer_id", Value: "n1"}}
	if got := cleanLabels(clean); &got[0] != &clean[0] {
		t.Fatal("clean labels were copied; want them passed through as they are")
	}
	got := cleanLabels([]gometrics.Label{
		{Name: "a-b", Value: "x"},
		{Name: "a.b", Value: "dropped: same name after cleaning"},
		{Name: "v", Value: "bad\xffutf8"},
	})
	want := []gometrics.Label{{Name: "a_b", Value: "x"}, {Name: "v", Value: "bad\uFFFDutf8"}}
	if len(got) != len(want) {
		t.Fatalf("cleanLabels = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("cleanLabels = %v, want %v", got, want)
		}
	}
}

// FuzzNames checks that whatever key and labels a library reports, the
// bridge hands the Prometheus sink only valid, unreserved, unique names and
// valid UTF-8 values: one bad series would fail every scrape.
func FuzzNames(f *testing.F) {
	f.Add("raft", "commitTime", "peer_id", "n1", "peer_id")
	f.Add("", "", "", "", "__name__")
	f.Add("9", "a.b-c/d e=f", "1x", "\xff", "1x")
	f.Fuzz(func(t *testing.T, part1, part2, label1, value, label2 string) {
		name := metricName([]string{part1, part2})
		if name == "" || !model.LegacyValidation.IsValidMetricName(name) {
			t.Fatalf("metricName(%q, %q) = %q: not a valid metric name", part1, part2, name)
		}
		labels := cleanLabels([]gometrics.Label{{Name: label1, Value: value}, {Name: label2, Value: value}})
		seen := map[string]bool{}
		for _, l := range labels {
			if !model.LegacyValidation.IsValidLabelName(l.Name) || strings.HasPrefix(l.Name, "__") {
				t.Fatalf("label name %q (from %q, %q) is invalid or reserved", l.Name, label1, label2)
			}
			if seen[l.Name] {
				t.Fatalf("label name %q repeated in %v", l.Name, labels)
			}
			seen[l.Name] = true
			if !utf8.ValidString(l.Value) {
				t.Fatalf("label value %q is not valid UTF-8", l.Value)
			}
		}
	})
}
