package metricsbridge

import (
	"strings"
	"unicode/utf8"

	gometrics "github.com/hashicorp/go-metrics"
	gmprom "github.com/hashicorp/go-metrics/prometheus"
)

// cleaningSink hands every go-metrics call to the Prometheus sink with a
// valid Prometheus name and labels. The sink itself only replaces a few
// characters (space . = - /); anything else it lets through would make the
// registry fail the whole scrape, not just that one series, so /metrics
// would go dark over a single odd key or label.
type cleaningSink struct {
	next *gmprom.PrometheusSink
}

// SetGauge implements go-metrics' MetricSink.
func (s cleaningSink) SetGauge(key []string, val float32) {
	s.SetGaugeWithLabels(key, val, nil)
}

// SetGaugeWithLabels implements go-metrics' MetricSink.
func (s cleaningSink) SetGaugeWithLabels(key []string, val float32, labels []gometrics.Label) {
	if name := metricName(key); name != "" {
		s.next.SetGaugeWithLabels([]string{name}, val, cleanLabels(labels))
	}
}

// SetPrecisionGauge implements go-metrics' PrecisionGaugeMetricSink.
func (s cleaningSink) SetPrecisionGauge(key []string, val float64) {
	s.SetPrecisionGaugeWithLabels(key, val, nil)
}

// SetPrecisionGaugeWithLabels implements go-metrics' PrecisionGaugeMetricSink.
func (s cleaningSink) SetPrecisionGaugeWithLabels(key []string, val float64, labels []gometrics.Label) {
	if name := metricName(key); name != "" {
		s.next.SetPrecisionGaugeWithLabels([]string{name}, val, cleanLabels(labels))
	}
}

// EmitKey implements go-metrics' MetricSink. Prometheus has no type for a
// stream of key/value events, so they are dropped, as the sink does too.
func (s cleaningSink) EmitKey([]string, float32) {}

// IncrCounter implements go-metrics' MetricSink.
func (s cleaningSink) IncrCounter(key []string, val float32) {
	s.IncrCounterWithLabels(key, val, nil)
}

// IncrCounterWithLabels implements go-metrics' MetricSink.
func (s cleaningSink) IncrCounterWithLabels(key []string, val float32, labels []gometrics.Label) {
	if name := counterName(key); name != "" {
		s.next.IncrCounterWithLabels([]string{name}, val, cleanLabels(labels))
	}
}

// droppedCounters are counters the agent exports better itself: raft counts
// entries into each state, and raft_state{state} (a gauge per state) is the
// one way to read the state.
var droppedCounters = map[string]bool{
	"raft_state_candidate_total": true,
	"raft_state_follower_total":  true,
	"raft_state_leader_total":    true,
}

// counterName is metricName with the "_total" Prometheus expects of a
// counter, or "" for a counter that is not exported.
func counterName(key []string) string {
	name := metricName(key)
	if name == "" {
		return ""
	}
	if !strings.HasSuffix(name, "_total") {
		name += "_total"
	}
	if droppedCounters[name] {
		return ""
	}
	return name
}

// AddSample implements go-metrics' MetricSink.
func (s cleaningSink) AddSample(key []string, val float32) {
	s.AddSampleWithLabels(key, val, nil)
}

// AddSampleWithLabels implements go-metrics' MetricSink.
func (s cleaningSink) AddSampleWithLabels(key []string, val float32, labels []gometrics.Label) {
	if name := metricName(key); name != "" {
		s.next.AddSampleWithLabels([]string{name}, val, cleanLabels(labels))
	}
}

// metricName joins a go-metrics key with "_", writes raft's and
// memberlist's camelCase parts in Prometheus' snake_case ("commitTime" is
// commit_time) and replaces every character outside [a-z0-9_] with "_"
// (colons too: Prometheus keeps them for recording rules). A name that
// would start with a digit gets a leading "_". An empty key gives "", which
// the callers drop.
func metricName(key []string) string {
	name := snakeCase(sanitize(strings.Join(key, "_")))
	if name != "" && isDigit(name[0]) {
		name = "_" + name
	}
	return name
}

// snakeCase lowercases s, putting "_" before an upper-case letter that
// follows a lower-case letter or a digit: appendEntries is append_entries,
// and an acronym stays one word (RPCTime is rpctime).
func snakeCase(s string) string {
	upper := false
	for i := 0; i < len(s); i++ {
		upper = upper || isUpper(s[i])
	}
	if !upper {
		return s
	}
	b := make([]byte, 0, len(s)+4)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUpper(c) {
			if i > 0 && (isLower(s[i-1]) || isDigit(s[i-1])) {
				b = append(b, '_')
			}
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isLower(c byte) bool { return 'a' <= c && c <= 'z' }

// cleanLabels returns labels with valid names (see labelName), valid UTF-8
// values and no repeated name (the first one wins): a repeated or invalid
// label name would fail the scrape. It allocates only when something
// changes.
func cleanLabels(labels []gometrics.Label) []gometrics.Label {
	if labelsClean(labels) {
		return labels
	}
	out := make([]gometrics.Label, 0, len(labels))
	seen := make(map[string]bool, len(labels))
	for _, l := range labels {
		name := labelName(l.Name)
		if seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, gometrics.Label{Name: name, Value: strings.ToValidUTF8(l.Value, "\uFFFD")})
	}
	return out
}

func labelsClean(labels []gometrics.Label) bool {
	for i, l := range labels {
		if labelName(l.Name) != l.Name || !utf8.ValidString(l.Value) {
			return false
		}
		for _, prev := range labels[:i] {
			if prev.Name == l.Name {
				return false
			}
		}
	}
	return true
}

// labelName makes s a valid snake_case label name that is not reserved
// (raft's rpcType is rpc_type): invalid characters become "_", leading underscores go (a "__" prefix is reserved
// for Prometheus itself), and a name that is then empty or starts with a
// digit gets the prefix "label_".
func labelName(s string) string {
	name := strings.TrimLeft(snakeCase(sanitize(s)), "_")
	if name == "" || isDigit(name[0]) {
		name = "label_" + name
	}
	return name
}

// sanitize replaces every byte outside [a-zA-Z0-9_] with "_". Working on
// bytes rather than runes turns a multi-byte character into several "_",
// which is still valid and keeps this allocation-free for clean input.
func sanitize(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if !nameByte(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	b := []byte(s)
	for i := range b {
		if !nameByte(b[i]) {
			b[i] = '_'
		}
	}
	return string(b)
}

func nameByte(c byte) bool {
	return c == '_' || isDigit(c) || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
