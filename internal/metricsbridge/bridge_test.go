package metricsbridge_test

import (
	"bytes"
	"strings"
	"testing"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/clusteragent/agent/internal/metricsbridge"
)

// TestMain also proves Install starts no goroutine: nothing could stop it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// install returns a fresh registry with the bridge in it.
func install(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := metricsbridge.Install(reg); err != nil {
		t.Fatalf("Install: %v", err)
	}
	return reg
}

// gather returns reg's families by name, failing on any gather error (which
// would be a failed scrape).
func gather(t *testing.T, reg prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func family(t *testing.T, fams map[string]*dto.MetricFamily, name string, typ dto.MetricType) *dto.MetricFamily {
	t.Helper()
	mf, ok := fams[name]
	if !ok {
		var names []string
		for n := range fams {
			names = append(names, n)
		}
		t.Fatalf("metric %s missing; have %v", name, names)
	}
	if mf.GetType() != typ {
		t.Fatalf("metric %s has type %v, want %v", name, mf.GetType(), typ)
	}
	return mf
}

func TestInstallExportsEachKind(t *testing.T) {
	reg := install(t)
	before := 0.0
	if mf, ok := gather(t, reg)["bridgetest_kinds_counter_total"]; ok {
		before = mf.GetMetric()[0].GetCounter().GetValue() // an earlier -count run
	}

	gometrics.IncrCounter([]string{"bridgetest", "kinds", "counter"}, 2)
	gometrics.SetGauge([]string{"bridgetest", "kinds", "gauge"}, 7)
	gometrics.SetPrecisionGauge([]string{"bridgetest", "kinds", "precise"}, 1e10+1)
	gometrics.AddSample([]string{"bridgetest", "kinds", "sample"}, 3)
	gometrics.EmitKey([]string{"bridgetest", "kinds", "key"}, 1)

	fams := gather(t, reg)
	if got := family(t, fams, "bridgetest_kinds_counter_total", dto.MetricType_COUNTER).GetMetric()[0].GetCounter().GetValue(); got != before+2 {
		t.Errorf("counter = %v, want %v", got, before+2)
	}
	if got := family(t, fams, "bridgetest_kinds_gauge", dto.MetricType_GAUGE).GetMetric()[0].GetGauge().GetValue(); got != 7 {
		t.Errorf("gauge = %v, want 7", got)
	}
	if got := family(t, fams, "bridgetest_kinds_precise", dto.MetricType_GAUGE).GetMetric()[0].GetGauge().GetValue(); got != 1e10+1 {
		t.Errorf("precision gauge = %v, want %v (64-bit precision lost)", got, 1e10+1)
	}
	if got := family(t, fams, "bridgetest_kinds_sample", dto.MetricType_SUMMARY).GetMetric()[0].GetSummary().GetSampleCount(); got < 1 {
		t.Errorf("summary has %d samples, want at least 1", got)
	}
	if _, ok := fams["bridgetest_kinds_key"]; ok {
		t.Error("EmitKey produced a metric; Prometheus has no type for it")
	}
	for name := range fams {
		if strings.HasPrefix(name, "runtime_") {
			t.Errorf("go-metrics runtime metric %s exported; the Go collector covers those", name)
		}
	}
}

func TestInstallSharesOneCollector(t *testing.T) {
	a, b := install(t), install(t)
	for _, reg := range []prometheus.Registerer{a, b, nil} {
		if err := metricsbridge.Install(reg); err != nil {
			t.Fatalf("second Install on the same registry (%T): %v", reg, err)
		}
	}
	gometrics.SetGauge([]string{"bridgetest", "shared"}, 42)
	for i, reg := range []prometheus.Gatherer{a, b} {
		if got := family(t, gather(t, reg), "bridgetest_shared", dto.MetricType_GAUGE).GetMetric()[0].GetGauge().GetValue(); got != 42 {
			t.Errorf("registry %d: gauge = %v, want 42", i, got)
		}
	}
}

// TestInstallSurvivesOddNames sends names and labels the sink would pass on
// unchanged and that would otherwise fail every scrape of the registry.
func TestInstallSurvivesOddNames(t *testing.T) {
	reg := install(t)
	gometrics.SetGaugeWithLabels([]string{"bridgetest", "odd:name@ü"}, 1, []gometrics.Label{
		{Name: "__reserved", Value: "a"},
		{Name: "peer-id", Value: "bad\xffutf8"},
		{Name: "peer.id", Value: "same name after cleaning"},
		{Name: "1st", Value: "b"},
	})
	gometrics.IncrCounter([]string{"7", "starts-with-digit"}, 1)

	fams := gather(t, reg)
	mf := family(t, fams, "bridgetest_odd_name___", dto.MetricType_GAUGE)
	got := map[string]string{}
	for _, lp := range mf.GetMetric()[0].GetLabel() {
		got[lp.GetName()] = lp.GetValue()
	}
	want := map[string]string{"reserved": "a", "peer_id": "bad\uFFFDutf8", "label_1st": "b"}
	if len(got) != len(want) {
		t.Fatalf("labels = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("labels = %v, want %v", got, want)
		}
	}
	family(t, fams, "_7_starts_with_digit_total", dto.MetricType_COUNTER)

	// The text exposition of everything parses back with strict names.
	var buf bytes.Buffer
	for _, mf := range fams {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatalf("encode %s: %v", mf.GetName(), err)
		}
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	if _, err := parser.TextToMetricFamilies(&buf); err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
}

// TestInstallRefusesAForeignCollector: a registry already holding another
// collector under the bridge's descriptor would silently lack the bridged
// metrics, so Install says so instead.
func TestInstallRefusesAForeignCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "agent_go_metrics_bridge", Help: "agent_go_metrics_bridge"}))
	err := metricsbridge.Install(reg)
	if err == nil {
		t.Fatal("Install succeeded over a foreign collector with the bridge's name")
	}
	if !strings.Contains(err.Error(), "metricsbridge") {
		t.Fatalf("error %q does not say where it came from", err)
	}
}
