package agent

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clusteragent/agent/agent/autopilot"
	"github.com/clusteragent/agent/discovery"
	"github.com/clusteragent/agent/internal/clock"
)

// memberLoop runs the member watcher over this agent's gossip.
func (a *Agent) memberLoop(ctx context.Context) {
	w := &memberWatcher{
		events:   a.gossip.Events(),
		isLeader: func() bool { return a.raft != nil && a.raft.IsLeader() },
		queue:    a.reconcileQ,
		syncMeta: a.syncLocalMeta,
		clock:    a.clock,
		interval: metaSyncInterval(a.raft != nil, a.reconcileInterval()),
		logger:   a.logger,
	}
	_ = w.Run(ctx) // ends with the agent
}

// metaSyncInterval is how often the member watcher re-checks the local gossip
// metadata. Only a server's metadata follows Raft (has-state, the cluster ID
// its log holds); a gossip-only member's is fixed once it has started, so it
// gets no timer (0) and an idle client is not woken for nothing.
func metaSyncInterval(server bool, reconcile time.Duration) time.Duration {
	if !server {
		return 0
	}
	return reconcile
}

// memberWatcher consumes gossip events. It forwards server events to the
// leader's reconcile queue (dropping when full: the periodic full reconcile
// catches up) and, on a timer, keeps the local gossip metadata in step with
// Raft: the has-state flag and the cluster ID adopted from the leader.
type memberWatcher struct {
	events   <-chan discovery.Event
	isLeader func() bool
	queue    *reconcileQueue
	syncMeta func()
	clock    clock.Clock
	interval time.Duration
	logger   hclog.Logger
}

// Run watches until ctx ends. An interval of 0 means no periodic sync.
func (w *memberWatcher) Run(ctx context.Context) error {
	var tick <-chan time.Time // nil: never ready
	if w.interval > 0 {
		ticker := w.clock.NewTicker(w.interval)
		defer ticker.Stop()
		tick = ticker.C()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-w.events:
			w.handle(ev)
		case <-tick:
			w.syncMeta()
		}
	}
}

func (w *memberWatcher) handle(ev discovery.Event) {
	w.logger.Debug("member event", "event", ev.Type.String(), "id", ev.Member.ID, "status", string(ev.Member.Status))
	if !forwardToReconcile(ev, w.isLeader()) {
		return
	}
	if !w.queue.offer(ev.Member) {
		w.logger.Debug("reconcile queue full; the periodic reconcile will handle member", "id", ev.Member.ID)
	}
}

// forwardToReconcile decides whether a gossip event goes to the leader's
// reconciler: only server events, and only on the leader (a follower's
// queue would be stale by the time it led).
func forwardToReconcile(ev discovery.Event, isLeader bool) bool {
	return isLeader && ev.Member.Meta.Role == discovery.RoleServer
}

// syncLocalMeta republishes local metadata when it changed, and adopts the
// cluster ID once this node has applied it from the Raft log.
func (a *Agent) syncLocalMeta() {
	if a.raft != nil && a.ClusterID() == "" {
		if id := a.raft.ClusterID(); id != "" {
			a.adoptClusterID(id)
			return // adoptClusterID republished
		}
	}
	want := a.localMeta()
	if a.gossip.LocalMember().Meta == want {
		return
	}
	if err := a.gossip.UpdateMeta(func(m *discovery.Meta) { *m = want }); err != nil {
		a.logger.Warn("failed to publish gossip metadata", "error", err)
	}
}

// sameCluster reports whether a member may be part of this node's cluster:
// either side may still be fresh (no cluster ID yet), but two different IDs
// never mix.
func (a *Agent) sameCluster(m discovery.Member) bool {
	mine := a.ClusterID()
	return mine == "" || m.Meta.ClusterID == "" || m.Meta.ClusterID == mine
}

// serverMembers lists the gossip servers that belong to this cluster, for
// autopilot. A fresh server (no cluster ID) is included only once it is in
// the Raft configuration or alive: autopilot sees it as a known server.
func (a *Agent) serverMembers() []autopilot.Member {
	var out []autopilot.Member
	for _, m := range a.gossip.Members() {
		if m.Meta.Role != discovery.RoleServer || !a.sameCluster(m) || m.Meta.RaftAddr == "" {
			continue
		}
		out = append(out, toAutopilotMember(m))
	}
	return out
}

func toAutopilotMember(m discovery.Member) autopilot.Member {
	return autopilot.Member{
		ID:       m.ID,
		RaftAddr: m.Meta.RaftAddr,
		HTTPAddr: m.Meta.HTTPAddr,
		Zone:     m.Meta.Zone,
		Version:  m.Meta.Version,
		Status:   autopilot.MemberStatus(m.Status),
		Since:    m.Since,
	}
}

func (a *Agent) reconcileInterval() time.Duration {
	if a.cfg.Tuning.ReconcileInterval > 0 {
		return a.cfg.Tuning.ReconcileInterval
	}
	return time.Second
}
