package raftnode

import (
	"strings"

	wal "github.com/hashicorp/raft-wal"
	walmetrics "github.com/hashicorp/raft-wal/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// walCollector exports raft-wal's own counters and gauges, read from its
// atomic collector when scraped, as raft_wal_<name>_total and
// raft_wal_<name>. Only a node on the WAL registers it.
type walCollector struct {
	src      *walmetrics.AtomicCollector
	counters map[string]*prometheus.Desc
	gauges   map[string]*prometheus.Desc
}

func newWALCollector(src *walmetrics.AtomicCollector) *walCollector {
	c := &walCollector{src: src, counters: map[string]*prometheus.Desc{}, gauges: map[string]*prometheus.Desc{}}
	for _, d := range wal.MetricDefinitions.Counters {
		c.counters[d.Name] = prometheus.NewDesc("raft_wal_"+d.Name+"_total", walHelp(d.Desc), nil, nil)
	}
	for _, d := range wal.MetricDefinitions.Gauges {
		c.gauges[d.Name] = prometheus.NewDesc("raft_wal_"+d.Name, walHelp(d.Desc), nil, nil)
	}
	return c
}

// walHelp drops the metric's own name that raft-wal repeats at the start
// of each description.
func walHelp(desc string) string {
	if _, rest, ok := strings.Cut(desc, " "); ok {
		return "raft-wal: " + rest
	}
	return "raft-wal: " + desc
}

// Describe implements prometheus.Collector.
func (c *walCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.counters {
		ch <- d
	}
	for _, d := range c.gauges {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *walCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Summary()
	for name, d := range c.counters {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(s.Counters[name]))
	}
	for name, d := range c.gauges {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(s.Gauges[name]))
	}
}
