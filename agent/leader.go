package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/clusteragent/agent/discovery"
	"github.com/clusteragent/agent/raftnode"
)

// monitorLeadership starts the leader's duties when Raft reports leadership
// and stops them, waiting for them to end, when it is lost. It is driven by
// raftnode.LeaderCh (Raft's ordered NotifyCh), never by polling, so no
// transition is missed.
func (a *Agent) monitorLeadership(ctx context.Context) {
	var duties *leaderDuties
	defer func() { duties.stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case isLeader := <-a.raft.LeaderCh():
			switch {
			case isLeader && duties == nil:
				duties = a.startLeaderDuties(ctx)
			case !isLeader && duties != nil:
				duties.stop()
				duties = nil
				a.logger.Info("leader duties stopped")
			}
		}
	}
}

// leaderDuties is one run of leaderLoop, for one term of leadership.
type leaderDuties struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (a *Agent) startLeaderDuties(ctx context.Context) *leaderDuties {
	lctx, cancel := context.WithCancel(ctx)
	d := &leaderDuties{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		a.leaderLoop(lctx)
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

	ticker := time.NewTicker(a.reconcileInterval())
	defer ticker.Stop()
	a.reconcileAll(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-a.reconcileCh:
			a.reconcileMember(ctx, m, nil)
		case <-ticker.C:
			a.reconcileAll(ctx)
		}
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
		case <-time.After(a.reconcileInterval()):
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
	id := a.raft.ClusterID()
	if id == "" {
		candidate := a.ClusterID() // a data dir may hold one from before the ID was replicated
		if candidate == "" {
			candidate = newClusterID()
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		got, err := a.raft.InitClusterID(cctx, candidate)
		cancel()
		if err != nil {
			a.logger.Warn("cannot commit the cluster ID yet", "error", err)
			return
		}
		id = got
	}
	a.adoptClusterID(id)
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

// reconcileAll compares every gossip server with the Raft configuration.
func (a *Agent) reconcileAll(ctx context.Context) {
	if a.ClusterID() == "" {
		a.ensureClusterID(ctx) // an earlier attempt could not commit
	}
	conf, err := a.raft.GetConfiguration(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.logger.Warn("reconcile: cannot read raft configuration", "error", err)
		}
		return
	}
	a.reconcileSelf(conf)
	for _, m := range a.gossip.Members() {
		if m.Meta.Role == discovery.RoleServer {
			a.reconcileMember(ctx, m, &conf)
		}
	}
}

// reconcileSelf rewrites the leader's own entry when it restarted at a new
// address: reconcileMember skips this node, and the stale address would
// otherwise stay in the configuration (and in every follower's fallback).
func (a *Agent) reconcileSelf(conf raftnode.Configuration) {
	for _, s := range conf.Servers {
		if s.ID != a.NodeID() || s.Address == a.raft.Addr() {
			continue
		}
		a.logger.Info("updating own address in place", "id", s.ID, "old", s.Address, "new", a.raft.Addr())
		self := a.gossip.LocalMember()
		if err := a.pilot.AddServer(toAutopilotMember(self)); err != nil && !errors.Is(err, context.Canceled) {
			a.logger.Warn("failed to update own address", "error", err)
		}
	}
}

// reconcileMember makes the Raft configuration agree with one gossip member:
// an alive server of this cluster that Raft lacks (or knows at another
// address) is added as a non-voter or updated in place; a member that left
// triggers an immediate prune. Dead members are left to autopilot, which
// removes them only after dead_server_reap_after.
func (a *Agent) reconcileMember(ctx context.Context, m discovery.Member, conf *raftnode.Configuration) {
	if m.ID == a.NodeID() || m.Meta.Role != discovery.RoleServer || m.Meta.RaftAddr == "" {
		return
	}
	if !a.sameCluster(m) {
		a.logger.Debug("ignoring server of another cluster", "id", m.ID, "cluster_id", m.Meta.ClusterID)
		return
	}
	if conf == nil {
		c, err := a.raft.GetConfiguration(ctx)
		if err != nil {
			return
		}
		conf = &c
	}
	var existing *raftnode.Server
	for i := range conf.Servers {
		if conf.Servers[i].ID == m.ID {
			existing = &conf.Servers[i]
		}
	}
	switch m.Status {
	case discovery.StatusAlive:
		if existing != nil && existing.Address == m.Meta.RaftAddr {
			return
		}
		if existing == nil && a.tombstones.blocks(m, time.Now()) {
			return
		}
		a.addServer(m, existing)
	case discovery.StatusLeft:
		if existing != nil {
			a.pilot.RemoveDeadServers()
		}
	}
}

func (a *Agent) addServer(m discovery.Member, existing *raftnode.Server) {
	if err := a.verifyServer(m); err != nil {
		a.logger.Warn("not adding server that failed verification", "id", m.ID, "address", m.Meta.RaftAddr, "error", err)
		return
	}
	if existing != nil {
		a.logger.Info("updating server address in place", "id", m.ID, "old", existing.Address, "new", m.Meta.RaftAddr)
	} else {
		a.logger.Info("adding server as non-voter", "id", m.ID, "address", m.Meta.RaftAddr)
	}
	if err := a.pilot.AddServer(toAutopilotMember(m)); err != nil && !errors.Is(err, context.Canceled) {
		a.logger.Warn("failed to add server", "id", m.ID, "error", err)
	}
}

// verifyServer calls the server at its advertised Raft address before it
// goes into the configuration: gossip alone proves nothing, and with TLS on
// this is a mutual-TLS handshake with that very address. The server must
// answer with the ID gossip gave and must not belong to another cluster.
func (a *Agent) verifyServer(m discovery.Member) error {
	ctx, cancel := context.WithTimeout(a.ctx, 2*time.Second)
	defer cancel()
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

// blocks reports whether member m may not be re-added yet.
func (t *tombstones) blocks(m discovery.Member, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	ts, ok := t.m[m.ID]
	if ok && !now.Before(ts.until) {
		delete(t.m, m.ID)
		return false
	}
	return ok && tombstoneBlocks(ts, m.Instance, now)
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
