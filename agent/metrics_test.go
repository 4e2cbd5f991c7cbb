package agent_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/internal/testutil"
)

// nativeRaftMetrics are the raft_ metrics raftnode exports itself; any
// other raft_ family comes from hashicorp/raft through the go-metrics bridge.
var nativeRaftMetrics = map[string]bool{
	"raft_leadership_changes_total": true, "raft_log_size_bytes": true, "raft_apply_latency_seconds": true,
	"raft_state": true, "raft_term": true, "raft_commit_index": true, "raft_applied_index": true,
	"raft_last_contact_seconds": true,
}

// TestMetricsScrape scrapes /metrics on every node of a healthy cluster the
// way Prometheus would and checks the documented metrics, their types and
// the values a healthy three-node cluster must show.
func TestMetricsScrape(t *testing.T) {
	nodes := startExpectCluster(t, 3, nil)
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	for _, n := range nodes {
		// One API request each, so http_requests_total has a series.
		if _, err := metricsHTTPGet(n.Agent.HTTPAddr(), "/v1/status"); err != nil {
			t.Fatal(err)
		}
	}

	// Autopilot publishes its view on its own update interval.
	testutil.WaitFor(t, formTimeout, func() error {
		l := agenttest.Leader(nodes...)
		if l == nil {
			return errors.New("no leader")
		}
		fams, err := scrapeMetrics(l.Agent.HTTPAddr())
		if err != nil {
			return err
		}
		for name, want := range map[string]float64{"autopilot_healthy": 1, "autopilot_failure_tolerance": 1, "autopilot_voters": 3} {
			if got, err := metricValue(fams, name, dto.MetricType_GAUGE, nil); err != nil || got != want {
				return fmt.Errorf("leader %s: %s = %v (%v), want %v", l.ID, name, got, err, want)
			}
		}
		return nil
	})

	for _, n := range nodes {
		// Gossip convergence and the bridged series (which appear once raft
		// and memberlist have reported) may each take a moment.
		var fams map[string]*dto.MetricFamily
		testutil.WaitFor(t, formTimeout, func() error {
			var err error
			if fams, err = scrapeMetrics(n.Agent.HTTPAddr()); err != nil {
				return err
			}
			if got, err := metricValue(fams, "gossip_members", dto.MetricType_GAUGE, map[string]string{"status": "alive"}); err != nil || got != 3 {
				return fmt.Errorf("%s: gossip_members{status=alive} = %v (%v), want 3", n.ID, got, err)
			}
			if bridgedMetric(fams, "raft_") == "" || bridgedMetric(fams, "memberlist_") == "" {
				return fmt.Errorf("%s: no bridged raft_ or memberlist_ metric yet", n.ID)
			}
			return nil
		})
		t.Run(n.ID, func(t *testing.T) { checkContractMetrics(t, fams); checkMetricsDocumented(t, fams) })
	}
}

// checkContractMetrics checks the metrics README.md#metrics promises in one scrape.
func checkContractMetrics(t *testing.T, fams map[string]*dto.MetricFamily) {
	types := map[string]dto.MetricType{
		"raft_leadership_changes_total":   dto.MetricType_COUNTER,
		"raft_log_size_bytes":             dto.MetricType_GAUGE,
		"raft_apply_latency_seconds":      dto.MetricType_HISTOGRAM,
		"raft_state":                      dto.MetricType_GAUGE,
		"raft_term":                       dto.MetricType_GAUGE,
		"raft_commit_index":               dto.MetricType_GAUGE,
		"raft_applied_index":              dto.MetricType_GAUGE,
		"raft_last_contact_seconds":       dto.MetricType_GAUGE,
		"gossip_members":                  dto.MetricType_GAUGE,
		"autopilot_healthy":               dto.MetricType_GAUGE,
		"autopilot_failure_tolerance":     dto.MetricType_GAUGE,
		"autopilot_voters":                dto.MetricType_GAUGE,
		"autopilot_servers_removed_total": dto.MetricType_COUNTER,
		"http_requests_total":             dto.MetricType_COUNTER,
		"go_goroutines":                   dto.MetricType_GAUGE,
		"process_resident_memory_bytes":   dto.MetricType_GAUGE,
	}
	for name, typ := range types {
		if mf, ok := fams[name]; !ok {
			t.Errorf("%s missing", name)
		} else if mf.GetType() != typ {
			t.Errorf("%s has type %v, want %v", name, mf.GetType(), typ)
		}
	}
	checkMetricLabels(t, fams, "raft_state", "state")
	checkMetricLabels(t, fams, "gossip_members", "status")
	checkMetricLabels(t, fams, "http_requests_total", "code", "method")
	if mf := fams["raft_state"]; mf != nil {
		ones := 0
		for _, m := range mf.GetMetric() {
			if m.GetGauge().GetValue() == 1 {
				ones++
			}
		}
		if ones != 1 || len(mf.GetMetric()) != 4 {
			t.Errorf("raft_state: %d states at 1 among %d series, want exactly one of 4", ones, len(mf.GetMetric()))
		}
	}
	if v, err := metricValue(fams, "raft_term", dto.MetricType_GAUGE, nil); err != nil || v < 1 {
		t.Errorf("raft_term = %v (%v), want >= 1", v, err)
	}
	if v, err := metricValue(fams, "raft_log_size_bytes", dto.MetricType_GAUGE, nil); err != nil || v <= 0 {
		t.Errorf("raft_log_size_bytes = %v (%v), want > 0", v, err)
	}
	// go-metrics has counters, gauges and samples (exported as summaries:
	// raft's timings stay in milliseconds, as raft documents them).
	for name, mf := range fams {
		if !isBridged(name) {
			continue
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER, dto.MetricType_GAUGE, dto.MetricType_SUMMARY:
		default:
			t.Errorf("bridged %s has type %v", name, mf.GetType())
		}
	}
	t.Logf("bridged, for example: %s, %s", bridgedMetric(fams, "raft_"), bridgedMetric(fams, "memberlist_"))
}

// checkMetricLabels asserts every series of name carries exactly labels.
func checkMetricLabels(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) {
	t.Helper()
	for _, m := range fams[name].GetMetric() {
		var got []string
		for _, lp := range m.GetLabel() {
			got = append(got, lp.GetName())
		}
		if strings.Join(got, ",") != strings.Join(labels, ",") {
			t.Errorf("%s has labels %v, want %v", name, got, labels)
			return
		}
	}
}

// bridgedMetric returns a metric named with prefix that came through the
// go-metrics bridge, or "".
func bridgedMetric(fams map[string]*dto.MetricFamily, prefix string) string {
	for name := range fams {
		if strings.HasPrefix(name, prefix) && isBridged(name) {
			return name
		}
	}
	return ""
}

// isBridged tells the metrics hashicorp/raft and memberlist report through
// go-metrics from those the agent exports itself.
func isBridged(name string) bool {
	return strings.HasPrefix(name, "memberlist_") || (strings.HasPrefix(name, "raft_") && !nativeRaftMetrics[name])
}

// metricValue returns the value of the series of name whose labels include
// labels, checking the family's type.
func metricValue(fams map[string]*dto.MetricFamily, name string, typ dto.MetricType, labels map[string]string) (float64, error) {
	mf, ok := fams[name]
	if !ok {
		return 0, fmt.Errorf("%s missing", name)
	}
	if mf.GetType() != typ {
		return 0, fmt.Errorf("%s has type %v, want %v", name, mf.GetType(), typ)
	}
next:
	for _, m := range mf.GetMetric() {
		for _, lp := range m.GetLabel() {
			if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
				continue next
			}
		}
		switch typ {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), nil
		default:
			return m.GetGauge().GetValue(), nil
		}
	}
	return 0, fmt.Errorf("%s has no series with labels %v", name, labels)
}

// scrapeMetrics fetches /metrics and parses it strictly: classic metric and label
// names only, every family once.
func scrapeMetrics(addr string) (map[string]*dto.MetricFamily, error) {
	body, err := metricsHTTPGet(addr, "/metrics")
	if err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parse /metrics of %s: %w", addr, err)
	}
	for name, mf := range fams {
		if !model.LegacyValidation.IsValidMetricName(name) {
			return nil, fmt.Errorf("invalid metric name %q", name)
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if !model.LegacyValidation.IsValidLabelName(lp.GetName()) {
					return nil, fmt.Errorf("%s: invalid label name %q", name, lp.GetName())
				}
			}
		}
	}
	return fams, nil
}

func metricsHTTPGet(addr, path string) (string, error) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s%s: %s: %s", addr, path, resp.Status, body)
	}
	return string(body), nil
}

// checkMetricsDocumented checks that docs/metrics.md lists every metric of
// the agent's own in a scrape; the bridged raft_ and memberlist_ families
// are documented as a rule there, not one by one.
func checkMetricsDocumented(t *testing.T, fams map[string]*dto.MetricFamily) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range fams {
		switch {
		case strings.HasPrefix(name, "go_"), strings.HasPrefix(name, "process_"), strings.HasPrefix(name, "promhttp_"):
			continue
		case strings.HasPrefix(name, "raft_wal_"):
			name = "raft_wal_*"
		case strings.HasPrefix(name, "memberlist_"),
			strings.HasPrefix(name, "raft_") && !nativeRaftMetrics[name] && name != "raft_log_store_info":
			continue // bridged
		}
		if !strings.Contains(string(doc), "`"+name+"`") && !strings.Contains(string(doc), "`"+name+"{") {
			t.Errorf("docs/metrics.md does not list %s", name)
		}
	}
}
