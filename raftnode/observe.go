package raftnode

import (
	"fmt"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// notifyBuffer is the capacity of raft's NotifyCh. Raft blocks on this
// channel, so it only needs to absorb a burst while the forwarder wakes up;
// the forwarder's own queue is unbounded.
const notifyBuffer = 16

// applyLatencyBuckets span a LAN commit (sub-millisecond) to a struggling
// cluster (seconds).
var applyLatencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// raftStates are the values of the raft_state label, in raft's order.
var raftStates = []raft.RaftState{raft.Follower, raft.Candidate, raft.Leader, raft.Shutdown}

// stateName is the lower-case name used in Status and metrics.
func stateName(s raft.RaftState) string {
	switch s {
	case raft.Follower:
		return "follower"
	case raft.Candidate:
		return "candidate"
	case raft.Leader:
		return "leader"
	default:
		return "shutdown"
	}
}

// nodeMetrics are the node's Prometheus metrics. They exist even without a
// Registerer, so the code that updates them never checks.
type nodeMetrics struct {
	reg           prometheus.Registerer
	leaderChanges prometheus.Counter
	applyLatency  prometheus.Histogram
	gauges        *raftCollector
	registered    []prometheus.Collector
}

func newNodeMetrics(n *Node) *nodeMetrics {
	return &nodeMetrics{
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "raft_leadership_changes_total",
			Help: "Leadership changes seen by this node (gained or lost).",
		}),
		applyLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "raft_apply_latency_seconds",
			Help:    "Time from submitting a command on the leader to its application by the FSM.",
			Buckets: applyLatencyBuckets,
		}),
		gauges: newRaftCollector(n),
	}
}

// register adds every metric to reg (nil: nothing), all or none.
func (m *nodeMetrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	m.reg = reg
	collectors := []prometheus.Collector{m.leaderChanges, m.applyLatency, m.gauges}
	if m.gauges.n.store.walMet != nil {
		collectors = append(collectors, newWALCollector(m.gauges.n.store.walMet))
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return fmt.Errorf("raftnode: register metrics: %w", err)
		}
		m.registered = append(m.registered, c)
	}
	return nil
}

// unregister removes what register added, so a node reopened in the same
// process can register again.
func (m *nodeMetrics) unregister() {
	for _, c := range m.registered {
		m.reg.Unregister(c)
	}
	m.registered = nil
}

// raftCollector reads raft's state when scraped rather than on a timer, so
// there is no goroutine to stop and the values are never stale.
type raftCollector struct {
	n                                                  *Node
	state, term, commit, applied, lastContact, logSize *prometheus.Desc
	logStore                                           *prometheus.Desc
}

func newRaftCollector(n *Node) *raftCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &raftCollector{
		n:           n,
		state:       desc("raft_state", "1 for the node's current Raft state, 0 for the others.", "state"),
		term:        desc("raft_term", "Current Raft term."),
		commit:      desc("raft_commit_index", "Highest log index known to be committed."),
		applied:     desc("raft_applied_index", "Highest log index handed to the FSM."),
		lastContact: desc("raft_last_contact_seconds", "Seconds since the last contact with a leader: 0 on the leader, -1 if never."),
		logSize:     desc("raft_log_size_bytes", "Size on disk of the log and stable store: every file under wal/, or raft.db."),
		logStore:    desc("raft_log_store_info", "1, labelled with the log store this node uses (wal or boltdb).", "store"),
	}
}

// Describe implements prometheus.Collector.
func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.term, c.commit, c.applied, c.lastContact, c.logSize, c.logStore} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.n.raft
	current := r.State()
	for _, s := range raftStates {
		v := 0.0
		if s == current {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, stateName(s))
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	gauge(c.term, float64(r.CurrentTerm()))
	gauge(c.commit, float64(r.CommitIndex()))
	gauge(c.applied, float64(r.AppliedIndex()))
	gauge(c.lastContact, c.n.lastContact().Seconds())
	gauge(c.logSize, c.n.store.logSizeBytes())
	ch <- prometheus.MustNewConstMetric(c.logStore, prometheus.GaugeValue, 1, c.n.store.kind)
}

// leaderForwarder moves raft's leadership notifications to LeaderCh through
// an unbounded queue: raft blocks on NotifyCh, and a slow consumer of
// LeaderCh must never stall raft's leader loop. Order is preserved, so the
// consumer sees every transition.
type leaderForwarder struct {
	in      chan bool
	out     chan bool
	stopCh  chan struct{}
	done    chan struct{}
	logger  hclog.Logger
	changes prometheus.Counter
}

func startLeaderForwarder(logger hclog.Logger, changes prometheus.Counter) *leaderForwarder {
	f := &leaderForwarder{
		in:      make(chan bool, notifyBuffer),
		out:     make(chan bool),
		stopCh:  make(chan struct{}),
		done:    make(chan struct{}),
		logger:  logger,
		changes: changes,
	}
	go f.run()
	return f
}

func (f *leaderForwarder) run() {
	defer close(f.done)
	var queue []bool
	for {
		var out chan bool // nil (never ready) while the queue is empty
		var next bool
		if len(queue) > 0 {
			out, next = f.out, queue[0]
		}
		select {
		case v := <-f.in:
			queue = append(queue, v)
			f.changes.Inc()
			f.logger.Info("leadership changed", "leader", v)
		case out <- next:
			queue = queue[1:]
		case <-f.stopCh:
			return
		}
	}
}

// stop ends the forwarder and waits for it. Undelivered notifications are
// dropped: after Close nobody acts on leadership.
func (f *leaderForwarder) stop() {
	select {
	case <-f.stopCh:
	default:
		close(f.stopCh)
	}
	<-f.done
}
