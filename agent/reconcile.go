package agent

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusteragent/agent/agent/autopilot"
	"github.com/clusteragent/agent/discovery"
	"github.com/clusteragent/agent/internal/clock"
	"github.com/clusteragent/agent/raftnode"
)

// reconcileAction is what the leader does about one gossip member.
type reconcileAction int

const (
	actNone   reconcileAction = iota
	actAdd                    // an alive server of this cluster that Raft lacks
	actUpdate                 // an alive server Raft knows at another address
	actPrune                  // a server that left gracefully and is still in Raft
)

func (a reconcileAction) String() string {
	return [...]string{"none", "add", "update", "prune"}[a]
}

// reconcileInput is everything decide looks at, gathered before it runs.
type reconcileInput struct {
	self      string // this node's ID
	clusterID string // this node's cluster ID, "" while fresh
	member    discovery.Member
	conf      raftnode.Configuration
	// tomb is the member's tombstone, if an operator removed it.
	tomb    tombstone
	hasTomb bool
	now     time.Time
}

// decide makes the Raft configuration agree with one gossip member: an alive
// server of this cluster that Raft lacks (or knows at another address) is
// added as a non-voter or updated in place; a member that left triggers an
// immediate prune. Dead members are left to autopilot, which removes them
// only after dead_server_reap_after. The leader itself is reconcileSelf's.
func decide(in reconcileInput) reconcileAction {
	m := in.member
	if m.ID == in.self || m.Meta.Role != discovery.RoleServer || m.Meta.RaftAddr == "" {
		return actNone
	}
	if in.clusterID != "" && m.Meta.ClusterID != "" && m.Meta.ClusterID != in.clusterID {
		return actNone // two different cluster IDs never mix
	}
	var existing *raftnode.Server
	for i := range in.conf.Servers {
		if in.conf.Servers[i].ID == m.ID {
			existing = &in.conf.Servers[i]
		}
	}
	switch m.Status {
	case discovery.StatusAlive:
		switch {
		case existing != nil && existing.Address == m.Meta.RaftAddr:
			return actNone
		case existing != nil:
			return actUpdate
		case in.hasTomb && tombstoneBlocks(in.tomb, m.Instance, in.now):
			return actNone
		default:
			return actAdd
		}
	case discovery.StatusLeft:
		if existing != nil {
			return actPrune
		}
	}
	return actNone
}

// reconcileRaft is the part of the Raft node the reconciler reads.
type reconcileRaft interface {
	GetConfiguration(ctx context.Context) (raftnode.Configuration, error)
	Addr() string
}

// reconcileMembers is the part of gossip the reconciler reads.
type reconcileMembers interface {
	Members() []discovery.Member
	LocalMember() discovery.Member
}

// serverChanger applies the reconciler's decisions (the autopilot Manager).
type serverChanger interface {
	AddServer(m autopilot.Member) error
	RemoveDeadServers()
}

// maxVerifying bounds the verifications in flight. Each is a network call
// of up to verifyTimeout; they run beside the loop, so a burst of new
// servers neither stalls reconciling nor opens a connection per member at
// once: the rest wait in a queue, one entry per member ID.
const (
	maxVerifying  = 4
	verifyTimeout = 2 * time.Second
)

// reconciler is the leader's membership duty: it reconciles gossip against
// the Raft configuration on every member event (fast path) and on a timer
// (so a dropped event never stays wrong). It runs for one term of
// leadership; its context is the leader's.
type reconciler struct {
	self      string
	clusterID func() string
	// ensureClusterID retries committing the cluster ID while it is unset.
	ensureClusterID func(ctx context.Context)
	raft            reconcileRaft
	members         reconcileMembers
	servers         serverChanger
	// verify checks a server before it goes into the configuration; it is
	// called on a worker goroutine and must honour ctx.
	verify     func(ctx context.Context, m discovery.Member) error
	tombstones *tombstones
	events     <-chan discovery.Member
	clock      clock.Clock
	interval   time.Duration
	logger     hclog.Logger

	// verified carries members that passed verification back to the loop,
	// which alone changes the configuration.
	verified chan verifiedMember
	// Loop-owned: the member IDs queued or being verified, the queue, and
	// how many workers run.
	inflight map[string]bool
	queue    []verifiedMember
	running  int
	workers  sync.WaitGroup
}

type verifiedMember struct {
	m      discovery.Member
	action reconcileAction
	err    error
}

// Run reconciles until ctx ends, then waits for its verifications.
func (r *reconciler) Run(ctx context.Context) error {
	r.verified = make(chan verifiedMember, maxVerifying)
	r.inflight = make(map[string]bool)
	defer r.workers.Wait()
	ticker := r.clock.NewTicker(r.interval)
	defer ticker.Stop()
	r.reconcileAll(ctx)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-r.events:
			r.reconcileOne(ctx, m)
		case v := <-r.verified:
			r.finishVerify(v)
			r.dispatch(ctx)
		case <-ticker.C():
			r.reconcileAll(ctx)
		}
	}
}

// reconcileAll compares every gossip server with the Raft configuration.
func (r *reconciler) reconcileAll(ctx context.Context) {
	if r.clusterID() == "" {
		r.ensureClusterID(ctx) // an earlier attempt could not commit
	}
	conf, err := r.raft.GetConfiguration(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.logger.Warn("reconcile: cannot read raft configuration", "error", err)
		}
		return
	}
	r.reconcileSelf(conf)
	for _, m := range r.members.Members() {
		if m.Meta.Role == discovery.RoleServer {
			r.apply(ctx, m, conf)
		}
	}
}

func (r *reconciler) reconcileOne(ctx context.Context, m discovery.Member) {
	if m.ID == r.self || m.Meta.Role != discovery.RoleServer || m.Meta.RaftAddr == "" {
		return
	}
	conf, err := r.raft.GetConfiguration(ctx)
	if err != nil {
		return
	}
	r.apply(ctx, m, conf)
}

// apply runs decide for m and starts what it asks for.
func (r *reconciler) apply(ctx context.Context, m discovery.Member, conf raftnode.Configuration) {
	now := r.clock.Now()
	in := reconcileInput{self: r.self, clusterID: r.clusterID(), member: m, conf: conf, now: now}
	in.tomb, in.hasTomb = r.tombstones.get(m.ID, now)
	switch act := decide(in); act {
	case actAdd, actUpdate:
		r.startVerify(ctx, m, act)
	case actPrune:
		r.servers.RemoveDeadServers()
	}
}

// startVerify queues m for verification, unless it is already queued or
// being verified.
func (r *reconciler) startVerify(ctx context.Context, m discovery.Member, act reconcileAction) {
	if r.inflight[m.ID] {
		return
	}
	r.inflight[m.ID] = true
	r.queue = append(r.queue, verifiedMember{m: m, action: act})
	r.dispatch(ctx)
}

// dispatch starts queued verifications while workers are free. Each runs
// under the leader's context and verifyTimeout, and hands its result back
// to the loop.
func (r *reconciler) dispatch(ctx context.Context) {
	for len(r.queue) > 0 && r.running < maxVerifying {
		v := r.queue[0]
		r.queue = r.queue[1:]
		r.running++
		r.workers.Add(1)
		go func() {
			defer r.workers.Done()
			vctx, cancel := context.WithTimeout(ctx, verifyTimeout)
			v.err = r.verify(vctx, v.m)
			cancel()
			select {
			case r.verified <- v:
			case <-ctx.Done():
			}
		}()
	}
}

func (r *reconciler) finishVerify(v verifiedMember) {
	r.running--
	delete(r.inflight, v.m.ID)
	m := v.m
	if v.err != nil {
		r.logger.Warn("not adding server that failed verification", "id", m.ID, "address", m.Meta.RaftAddr, "error", v.err)
		return
	}
	if v.action == actUpdate {
		r.logger.Info("updating server address in place", "id", m.ID, "new", m.Meta.RaftAddr)
	} else {
		r.logger.Info("adding server as non-voter", "id", m.ID, "address", m.Meta.RaftAddr)
	}
	if err := r.servers.AddServer(toAutopilotMember(m)); err != nil && !errors.Is(err, context.Canceled) {
		r.logger.Warn("failed to add server", "id", m.ID, "error", err)
	}
}

// reconcileSelf rewrites the leader's own entry when it restarted at a new
// address: decide skips this node, and the stale address would otherwise
// stay in the configuration (and in every follower's fallback).
func (r *reconciler) reconcileSelf(conf raftnode.Configuration) {
	for _, s := range conf.Servers {
		if s.ID != r.self || s.Address == r.raft.Addr() {
			continue
		}
		r.logger.Info("updating own address in place", "id", s.ID, "old", s.Address, "new", r.raft.Addr())
		if err := r.servers.AddServer(toAutopilotMember(r.members.LocalMember())); err != nil && !errors.Is(err, context.Canceled) {
			r.logger.Warn("failed to update own address", "error", err)
		}
	}
}

// reconcileQueue is the non-blocking hand-off from gossip events to the
// leader's reconciler. A full queue drops the event and counts it: the
// periodic full reconcile catches up.
type reconcileQueue struct {
	ch      chan discovery.Member
	dropped prometheus.Counter
}

func newReconcileQueue(size int, reg prometheus.Registerer) (*reconcileQueue, error) {
	q := &reconcileQueue{
		ch: make(chan discovery.Member, size),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agent_reconcile_dropped_total",
			Help: "Member events the leader's reconcile queue dropped because it was full; the periodic full reconcile handles them.",
		}),
	}
	if reg != nil {
		if err := reg.Register(q.dropped); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// offer enqueues m without blocking; it reports false when m was dropped.
func (q *reconcileQueue) offer(m discovery.Member) bool {
	select {
	case q.ch <- m:
		return true
	default:
		q.dropped.Inc()
		return false
	}
}
