// Package metricsbridge exports what hashicorp/raft, raft-boltdb and
// memberlist report through go-metrics as Prometheus metrics.
//
// Those libraries do not take a metrics sink as an argument: they write to
// go-metrics' package-level global, so there is exactly one such stream per
// process. Install therefore configures the global once per process and
// shares one collector among every registry it is given. The consequence for
// operators: the bridged metrics (raft_commit_time, raft_rpc_append_entries_total,
// memberlist_gossip, ...) are process-wide. An agent process runs one node,
// so this is invisible in production; a test or a program running several
// nodes in one process sees the sum of all of them on every registry. The
// agent's own metrics (raft_state, raft_term, gossip_members, ...) are per
// node and are not affected.
//
// Names are the go-metrics key joined with "_" and cleaned into valid
// Prometheus names: raft's "raft.commitTime" becomes raft_commit_time, and a counter ends in _total.
// Values are passed through unchanged, so raft's timings stay summaries in
// milliseconds, as raft and memberlist document them.
package metricsbridge

import (
	"errors"
	"fmt"
	"sync"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
	gmprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// Expiration is how long a bridged metric survives without an update before
// the next scrape drops it. Raft sets some gauges only on change (raft_peers)
// and memberlist some only while gossiping; a minute keeps them visible
// across ordinary scrape intervals while a series from a peer that is long
// gone still disappears.
const Expiration = 60 * time.Second

// sinkName names the collector's placeholder descriptor. It must be unique in
// a registry, so it is specific to this bridge rather than the library's
// default name, which another go-metrics sink could also use.
const sinkName = "agent_go_metrics_bridge"

var (
	once       sync.Once
	collector  *gmprom.PrometheusSink
	installErr error
)

// Install makes go-metrics' process-wide global report into a Prometheus
// collector (only on its first call in the process) and registers that
// collector in reg. It may be called for any number of registries, and more
// than once for the same one: every registry gets the same collector, and
// finding it already registered counts as success. A nil reg only sets up
// the global.
//
// Install replaces whatever go-metrics global was configured before its
// first call. A program that configures go-metrics itself should not call
// it. It starts no goroutine.
func Install(reg prometheus.Registerer) error {
	once.Do(setup)
	if installErr != nil {
		return installErr
	}
	if reg == nil {
		return nil
	}
	if err := reg.Register(collector); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) && are.ExistingCollector == prometheus.Collector(collector) {
			return nil
		}
		return fmt.Errorf("metricsbridge: register go-metrics collector: %w", err)
	}
	return nil
}

// setup builds the sink and makes it go-metrics' global.
func setup() {
	// The sink insists on registering itself somewhere when created; a
	// private registry keeps it out of prometheus.DefaultRegisterer, which
	// this project never serves.
	sink, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{
		Expiration: Expiration,
		Registerer: prometheus.NewRegistry(),
		Name:       sinkName,
	})
	if err != nil {
		installErr = fmt.Errorf("metricsbridge: create go-metrics sink: %w", err)
		return
	}
	conf := gometrics.DefaultConfig("") // no service prefix: raft_commit_time, not agent_raft_commit_time
	conf.EnableHostname = false         // a hostname prefix would make names differ per machine
	conf.EnableHostnameLabel = false
	conf.EnableRuntimeMetrics = false // the Go collector already exports runtime metrics
	if _, err := gometrics.NewGlobal(conf, cleaningSink{next: sink}); err != nil {
		installErr = fmt.Errorf("metricsbridge: install go-metrics global: %w", err)
		return
	}
	collector = sink
}
