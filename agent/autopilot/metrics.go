package autopilot

import (
	ap "github.com/hashicorp/raft-autopilot"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	healthy          prometheus.Gauge
	failureTolerance prometheus.Gauge
	voters           prometheus.Gauge
	removed          prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		healthy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "autopilot_healthy",
			Help: "1 when every server is healthy in the leader's autopilot view, else 0.",
		}),
		failureTolerance: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "autopilot_failure_tolerance",
			Help: "How many voters can fail without losing quorum.",
		}),
		voters: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "autopilot_voters",
			Help: "Number of voters in the Raft configuration, as seen by the leader's autopilot.",
		}),
		removed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "autopilot_servers_removed_total",
			Help: "Failed or departed servers autopilot removed from Raft.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.healthy, m.failureTolerance, m.voters, m.removed} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observe(s *ap.State) {
	if s == nil {
		return
	}
	healthy := 0.0
	if s.Healthy {
		healthy = 1
	}
	m.healthy.Set(healthy)
	m.failureTolerance.Set(float64(s.FailureTolerance))
	m.voters.Set(float64(len(s.Voters)))
}
