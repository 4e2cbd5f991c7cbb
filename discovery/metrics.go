package discovery

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// gossipMetrics are the Prometheus collectors of one Gossip.
type gossipMetrics struct {
	reg     prometheus.Registerer
	members *membersCollector
	dropped prometheus.Counter
	// resolveFailures reads Gossip.resolveFailures at scrape time, so
	// lookups made before registration are not lost.
	resolveFailures prometheus.CounterFunc
	// idConflicts reads Gossip.conflicts.count (conflict.go).
	idConflicts prometheus.CounterFunc
}

// membersCollector computes gossip_members{status} from Members at scrape
// time, so the gauge can never drift from what Members reports.
type membersCollector struct {
	g    *Gossip
	desc *prometheus.Desc
}

var allStatuses = []Status{StatusAlive, StatusSuspect, StatusDead, StatusLeft}

// Describe implements prometheus.Collector.
func (c *membersCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. Every status is always exported,
// zero included, so alerts on absent series are not needed.
func (c *membersCollector) Collect(ch chan<- prometheus.Metric) {
	counts := make(map[Status]int, len(allStatuses))
	for _, m := range c.g.Members() {
		counts[m.Status]++
	}
	for _, s := range allStatuses {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
}

// registerMetrics registers the collectors; on failure nothing stays
// registered.
func (g *Gossip) registerMetrics(reg prometheus.Registerer) error {
	m := &gossipMetrics{
		reg: reg,
		members: &membersCollector{g: g, desc: prometheus.NewDesc(
			"gossip_members", "Gossip members known to this node, by status.", []string{"status"}, nil)},
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gossip_events_dropped_total",
			Help: "Membership events dropped because the consumer did not keep up.",
		}),
		resolveFailures: prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gossip_join_resolve_failures_total",
			Help: "Seed name lookups (A/AAAA or SRV) that failed or found no address; each is retried with backoff.",
		}, func() float64 { return float64(g.resolveFailures.Load()) }),
		idConflicts: prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gossip_node_id_conflicts_total",
			Help: "Times another live member was found using this node's ID at another address (at most one per address per minute).",
		}, func() float64 { return float64(g.NodeIDConflicts()) }),
	}
	if err := reg.Register(m.members); err != nil {
		return fmt.Errorf("discovery: register gossip_members: %w", err)
	}
	if err := reg.Register(m.dropped); err != nil {
		reg.Unregister(m.members)
		return fmt.Errorf("discovery: register gossip_events_dropped_total: %w", err)
	}
	if err := reg.Register(m.resolveFailures); err != nil {
		reg.Unregister(m.members)
		reg.Unregister(m.dropped)
		return fmt.Errorf("discovery: register gossip_join_resolve_failures_total: %w", err)
	}
	if err := reg.Register(m.idConflicts); err != nil {
		reg.Unregister(m.members)
		reg.Unregister(m.dropped)
		reg.Unregister(m.resolveFailures)
		return fmt.Errorf("discovery: register gossip_node_id_conflicts_total: %w", err)
	}
	// Events dropped before registration (during memberlist start-up) are
	// carried over so the counter agrees with Dropped. emit counts under the
	// read lock, so nothing is counted twice or missed.
	g.eventsMu.Lock()
	m.dropped.Add(float64(g.dropped.Load()))
	g.metrics = m
	g.eventsMu.Unlock()
	return nil
}

// unregister removes the collectors so a new Gossip can register on the same
// registry (an agent restarting its gossip layer in-process).
func (m *gossipMetrics) unregister() {
	m.reg.Unregister(m.members)
	m.reg.Unregister(m.dropped)
	m.reg.Unregister(m.resolveFailures)
	m.reg.Unregister(m.idConflicts)
}
