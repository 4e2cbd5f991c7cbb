package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clusteragent/agent/discovery"
)

// monitorLeadership runs the leadership monitor over this node's Raft.
func (a *Agent) monitorLeadership(ctx context.Context) {
	m := &leadershipMonitor{leaderCh: a.raft.LeaderCh(), duties: a.leaderLoop, logger: a.logger}
	_ = m.Run(ctx) // ends with the agent
}

// leadershipMonitor starts the leader's duties when Raft reports leadership
// and stops them, waiting for them to end, when it is lost. It is driven by
// Raft's ordered leadership channel (raftnode.LeaderCh), never by polling,
// so no transition is missed.
type leadershipMonitor struct {
	leaderCh <-chan bool
	// duties runs one term's duties until its context ends.
	duties func(ctx context.Context)
	logger hclog.Logger
}

// leadershipStep is what a leadership report asks of the monitor.
type leadershipStep int

const (
	stepNone leadershipStep = iota
	stepStart
	stepStop
)

// nextLeadershipStep decides on one report: start duties on gaining
// leadership, stop them on losing it, and ignore repeats (Raft may report
// the same state twice across quick flaps).
func nextLeadershipStep(isLeader, running bool) leadershipStep {
	switch {
	case isLeader && !running:
		return stepStart
	case !isLeader && running:
		return stepStop
	default:
		return stepNone
	}
}

// Run follows leadership until ctx ends, then stops the duties it started.
func (m *leadershipMonitor) Run(ctx context.Context) error {
	var duties *leaderDuties
	defer func() { duties.stop() }()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case isLeader := <-m.leaderCh:
			switch nextLeadershipStep(isLeader, duties != nil) {
			case stepStart:
				duties = startLeaderDuties(ctx, m.duties)
			case stepStop:
				duties.stop()
				duties = nil
				m.logger.Info("leader duties stopped")
			}
		}
	}
}

// leaderDuties is one run of the duties, for one term of leadership.
type leaderDuties struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startLeaderDuties(ctx context.Context, run func(context.Context)) *leaderDuties {
	lctx, cancel := context.WithCancel(ctx)
	d := &leaderDuties{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		run(lctx)
	}()
	return d
}

// stop ends the run and waits for it; nil-safe.
func (d *leaderDuties) stop() {
	if d == nil {
		return
	}
	d.cancel()
	<-d.done
}

// leaderLoop is the leader's duty cycle: establish leadership (a barrier so
// the state machine is current, the cluster ID), start autopilot, then
// reconcile gossip against the Raft configuration on every member event
// (fast path) and on a timer (so a dropped event never stays wrong).
func (a *Agent) leaderLoop(ctx context.Context) {
	if !a.establishLeadership(ctx) {
		return
	}
	a.logger.Info("leader duties started", "cluster_id", a.ClusterID())
	a.pilot.Start(ctx)
	defer a.pilot.Stop()
	leasesDone := make(chan struct{})
	go func() {
		defer close(leasesDone)
		a.runLeaseExpiry(ctx)
	}()
	defer func() { <-leasesDone }()
	backupsDone := make(chan struct{})
	go func() {
		defer close(backupsDone)
		a.backups.run(ctx)
	}()
	defer func() { <-backupsDone }()

	_ = a.newReconciler().Run(ctx) // ends with ctx, when leadership is lost
}

// newReconciler wires the leader's membership duty to this agent.
func (a *Agent) newReconciler() *reconciler {
	return &reconciler{
		self:            a.NodeID(),
		clusterID:       a.ClusterID,
		ensureClusterID: a.ensureClusterID,
		raft:            a.raft,
		members:         a.gossip,
		servers:         a.pilot,
		verify:          a.verifyServer,
		tombstones:      a.tombstones,
		events:          a.reconcileQ.ch,
		clock:           a.clock,
		interval:        a.reconcileInterval(),
		logger:          a.logger,
	}
}

// establishLeadership retries the barrier until it succeeds or leadership
// is lost (ctx ends).
func (a *Agent) establishLeadership(ctx context.Context) bool {
	for attempt := 0; ; attempt++ {
		bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := a.raft.Barrier(bctx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		a.logger.Warn("barrier after winning leadership failed; retrying", "attempt", attempt, "error", err)
		select {
		case <-ctx.Done():
			return false
		case <-a.clock.After(a.reconcileInterval()):
		}
	}
	a.ensureClusterID(ctx)
	return true
}

// ensureClusterID gives the cluster its ID through the Raft log on its
// first leader: the entry commits on a quorum before anyone persists the ID,
// so a leader cut off before it told anyone cannot leave a second ID behind
// (raftnode.InitClusterID; the first committed entry wins). The barrier has
// run, so an ID an earlier leader committed is already applied here.
func (a *Agent) ensureClusterID(ctx context.Context) {
	id, commit := planClusterID(a.raft.ClusterID(), a.ClusterID())
	if commit {
		if id == "" {
			id = newClusterID()
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		got, err := a.raft.InitClusterID(cctx, id)
		cancel()
		if err != nil {
			a.logger.Warn("cannot commit the cluster ID yet", "error", err)
			return
		}
		id = got
	}
	a.adoptClusterID(id)
}

// planClusterID decides the leader's cluster ID step from the ID the Raft
// log holds and the one this data dir holds: adopt the log's; else commit
// the data dir's (kept from before the ID was replicated); else commit a
// new one ("" with commit true).
func planClusterID(inLog, inDataDir string) (id string, commit bool) {
	if inLog != "" {
		return inLog, false
	}
	return inDataDir, true
}

// adoptClusterID persists the ID the Raft log holds and republishes gossip
// metadata, so peers and pools of other clusters see it.
func (a *Agent) adoptClusterID(id string) {
	changed, err := a.id.SetClusterID(id)
	if err != nil {
		a.logger.Error("the raft log holds another cluster ID than this data dir", "raft_cluster_id", id, "error", err)
		return
	}
	if changed {
		a.logger.Info("cluster ID set", "cluster_id", id)
		a.syncLocalMeta()
	}
}

// verifyServer calls the server at its advertised Raft address before it
// goes into the configuration: gossip alone proves nothing, and with TLS on
// this is a mutual-TLS handshake with that very address. The server must
// answer with the ID gossip gave and must not belong to another cluster.
// It runs on the reconciler's workers, under the leader's context and
// verifyTimeout.
func (a *Agent) verifyServer(ctx context.Context, m discovery.Member) error {
	st, err := a.peers.Stats(ctx, m.Meta.RaftAddr)
	if err != nil {
		return err
	}
	if st.NodeID != m.ID {
		return fmt.Errorf("%s answers as node %q", m.Meta.RaftAddr, st.NodeID)
	}
	if mine := a.ClusterID(); st.ClusterID != "" && mine != "" && st.ClusterID != mine {
		return fmt.Errorf("it belongs to cluster %s", st.ClusterID)
	}
	return nil
}

// removeFailedServer is autopilot's removal hook: remove from Raft, then let
// gossip forget the member so it is not reported again.
func (a *Agent) removeFailedServer(ctx context.Context, id string) error {
	if err := a.raft.RemoveServer(ctx, id); err != nil {
		return err
	}
	if m, ok := a.gossip.Member(id); ok && (m.Status == discovery.StatusDead || m.Status == discovery.StatusLeft) {
		a.gossip.Forget(id)
	}
	return nil
}

// tombstones remember servers an operator removed explicitly (agent leave
// and remove-peer both end here), so the next reconcile does not add them
// straight back while they are still alive in gossip (for example between a
// leave's Raft removal and its gossip leave). A tombstone holds only the
// incarnation that was removed (its gossiped Member.Instance): the same server
// restarted, with its data or wiped, is a new incarnation and is added back
// at once, so a rolling restart with leave_on_terminate does not keep each
// server out of Raft for the whole TTL.
type tombstones struct {
	mu sync.Mutex
	m  map[string]tombstone
}

// tombstone is one removed incarnation.
type tombstone struct {
	until    time.Time
	instance string // the removed incarnation's Member.Instance; "" when unknown
}

const tombstoneTTL = 15 * time.Second

func newTombstones() *tombstones { return &tombstones{m: make(map[string]tombstone)} }

func (t *tombstones) add(id, instance string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[id] = tombstone{until: now.Add(tombstoneTTL), instance: instance}
}

// get returns the tombstone of id, if one is still in force; expired ones
// are forgotten.
func (t *tombstones) get(id string, now time.Time) (tombstone, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ts, ok := t.m[id]
	if ok && !now.Before(ts.until) {
		delete(t.m, id)
		return tombstone{}, false
	}
	return ts, ok
}

// tombstoneBlocks decides whether a tombstone keeps the incarnation with
// the given instance out of Raft: only the removed incarnation itself, or
// any when either instance is unknown (an older agent), until the TTL
// passes.
func tombstoneBlocks(ts tombstone, instance string, now time.Time) bool {
	if !now.Before(ts.until) {
		return false
	}
	return ts.instance == "" || instance == "" || instance == ts.instance
}
