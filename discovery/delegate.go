package discovery

import (
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"

	"github.com/clusteragent/agent/internal/clock"
)

// The adapters below are called by memberlist on its own goroutines, often
// with its node lock held (the UDP receive loop, probes, push/pull). They
// must never block and never call back into memberlist: they copy what they
// need, update the member table under its own short lock and enqueue with a
// non-blocking send. Lock order is memberlist's node lock, then ours.

// nodeDelegate serves the local metadata and receives the keyring user
// messages. The broadcast and state-sync hooks are unused.
type nodeDelegate struct{ g *Gossip }

var _ memberlist.Delegate = nodeDelegate{}

// NodeMeta returns the encoded local Meta. It is pre-encoded by New and
// UpdateMeta, so this is an atomic load and a copy.
func (d nodeDelegate) NodeMeta(limit int) []byte {
	b := d.g.meta.Load().encoded
	if len(b) > limit {
		// EncodeMeta caps at MaxMetaSize, which is the limit memberlist
		// passes; returning more would make memberlist panic.
		return nil
	}
	return slices.Clone(b)
}

// NotifyMsg receives keyring requests and replies. memberlist reuses the
// buffer and calls this on its receive goroutines, so it only copies the
// message and queues it for a worker, never blocking.
func (d nodeDelegate) NotifyMsg(b []byte) { d.g.enqueueUserMsg(b) }

// GetBroadcasts has nothing to broadcast.
func (nodeDelegate) GetBroadcasts(int, int) [][]byte { return nil }

// LocalState has no extra state to sync.
func (nodeDelegate) LocalState(bool) []byte { return nil }

// MergeRemoteState ignores remote extra state.
func (nodeDelegate) MergeRemoteState([]byte, bool) {}

// eventDelegate feeds the member table and the Events channel.
type eventDelegate struct{ g *Gossip }

var _ memberlist.EventDelegate = eventDelegate{}

// NotifyJoin records a node that became alive.
func (d eventDelegate) NotifyJoin(n *memberlist.Node) {
	id, addr, meta, w := nodeFields(n)
	m := d.g.table.join(id, addr, meta, w.Instance, d.g.clock.Now())
	if id != d.g.cfg.NodeID {
		d.g.joined.Store(true)
		d.g.markSettled()
	}
	d.g.logger.Info("member joined", "member", id, "addr", addr)
	d.g.emit(Event{Type: EventJoin, Member: m})
	d.g.markDirty()
}

// NotifyLeave records a node that failed or left. memberlist does not say
// which (n.State is not set), so a node counts as left when its last
// metadata carried the leaving flag that Leave broadcasts first.
func (d eventDelegate) NotifyLeave(n *memberlist.Node) {
	id, addr, meta, w := nodeFields(n)
	left := w.Leaving
	m := d.g.table.leave(id, addr, meta, w.Instance, left, d.g.clock.Now())
	ev := Event{Type: EventFail, Member: m}
	if left {
		ev.Type = EventLeave
		d.g.logger.Info("member left", "member", id, "addr", addr)
	} else {
		d.g.logger.Warn("member failed", "member", id, "addr", addr)
	}
	d.g.emit(ev)
	d.g.markDirty()
}

// NotifyUpdate records new metadata. The leaving flag alone is not an
// update of Meta: the leave that follows produces the event.
func (d eventDelegate) NotifyUpdate(n *memberlist.Node) {
	id, addr, meta, w := nodeFields(n)
	m := d.g.table.update(id, addr, meta, w.Instance, d.g.clock.Now())
	if w.Leaving {
		d.g.logger.Debug("member is leaving", "member", id, "addr", addr)
		return
	}
	d.g.logger.Debug("member updated", "member", id, "addr", addr)
	d.g.emit(Event{Type: EventUpdate, Member: m})
	d.g.markDirty()
}

// nodeFields copies what the table needs out of a memberlist node. Meta that
// does not decode cannot reach here (the alive delegate refuses it), except
// in a race with a refusal; fall back to just the ID rather than drop the
// node from the table.
func nodeFields(n *memberlist.Node) (id, addr string, meta Meta, w wireMeta) {
	w, err := decodeWire(n.Meta)
	if err != nil {
		w = wireMeta{ID: n.Name}
	}
	return n.Name, n.Address(), w.meta(), w
}

// aliveDelegate enforces cluster isolation on every alive message, including
// those relayed by a third node that bridges two pools.
type aliveDelegate struct{ g *Gossip }

var _ memberlist.AliveDelegate = aliveDelegate{}

// NotifyAlive refuses peers from another cluster or with unreadable meta.
func (d aliveDelegate) NotifyAlive(peer *memberlist.Node) error { return d.g.admit(peer) }

// mergeDelegate enforces cluster isolation on joins (push/pull with join set),
// so a join between two clusters fails as a whole on both sides.
type mergeDelegate struct{ g *Gossip }

var _ memberlist.MergeDelegate = mergeDelegate{}

// NotifyMerge refuses the merge if any of the remote's nodes is refused, or
// if the remote's state holds a live member with this node's ID at another
// address (see conflict.go).
func (d mergeDelegate) NotifyMerge(peers []*memberlist.Node) error {
	if err := d.g.checkMergeConflict(peers); err != nil {
		return err
	}
	for _, p := range peers {
		if err := d.g.admit(p); err != nil {
			return err
		}
	}
	return nil
}

// admit decides whether a peer may be part of this node's pool. A node with
// no cluster ID yet (a fresh agent) may join any pool, and any node may join
// a pool when this node has no cluster ID; two different non-empty IDs never
// mix, so two clusters brought together by gossip stay apart.
func (g *Gossip) admit(n *memberlist.Node) error {
	local := g.meta.Load().meta.ClusterID
	if g.admitted.has(n.Name, n.Meta, local) {
		return nil
	}
	meta, err := DecodeMeta(n.Meta)
	if err != nil {
		g.refusals.warn(n.Name, "refusing peer with unreadable metadata",
			"peer", n.Name, "peer_addr", n.Address(), "error", err)
		return fmt.Errorf("peer %q: %w", n.Name, err)
	}
	if meta.ID != n.Name {
		err := fmt.Errorf("%w: peer %q gossips metadata for node %q", ErrInvalidMeta, n.Name, meta.ID)
		g.refusals.warn(n.Name, "refusing peer with mismatched metadata",
			"peer", n.Name, "peer_addr", n.Address(), "error", err)
		return err
	}
	if local != "" && meta.ClusterID != "" && meta.ClusterID != local {
		g.refusals.warn(n.Name, "refusing peer from another cluster",
			"peer", n.Name, "peer_addr", n.Address(), "peer_cluster_id", meta.ClusterID, "cluster_id", local)
		return fmt.Errorf("%w: peer %q is in cluster %q, this node in %q", ErrClusterMismatch, n.Name, meta.ClusterID, local)
	}
	g.admitted.add(n.Name, n.Meta, local)
	return nil
}

// maxAdmitted bounds the admit cache; past it the cache starts over, which
// costs one metadata decode per member.
const maxAdmitted = 4096

// admitCache remembers, per peer, the metadata last admitted and the local
// cluster ID it was admitted under. memberlist consults the alive delegate
// on every alive message before it even checks whether the message is news,
// and each member's alive message reaches every node about a dozen times
// (memberlist retransmits each message RetransmitMult*log10(n) times), nearly
// always unchanged: in a mass join of 200 members, decoding the JSON again
// each time was about 5% of the CPU.
type admitCache struct {
	mu sync.Mutex
	m  map[string]admittedPeer
}

type admittedPeer struct{ meta, cluster string }

func (c *admitCache) has(name string, meta []byte, cluster string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[name]
	return ok && p.meta == string(meta) && p.cluster == cluster
}

func (c *admitCache) add(name string, meta []byte, cluster string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxAdmitted {
		c.m = make(map[string]admittedPeer)
	}
	c.m[name] = admittedPeer{meta: string(meta), cluster: cluster}
}

// emit hands an event to the consumer without ever blocking: when the buffer
// is full the event is dropped and counted.
func (g *Gossip) emit(ev Event) {
	g.eventsMu.RLock()
	defer g.eventsMu.RUnlock()
	if g.eventsStopped {
		return
	}
	select {
	case g.events <- ev:
	default:
		n := g.dropped.Add(1)
		if g.metrics != nil {
			g.metrics.dropped.Inc()
		}
		// Warn on the 1st, 2nd, 4th, 8th... drop: visible, never a flood.
		if bits.OnesCount64(n) == 1 {
			g.logger.Warn("event buffer full, dropping membership events; consumer is too slow",
				"dropped_total", n, "buffer", cap(g.events))
		}
	}
}

// markDirty asks the persist loop to save the remembered members soon.
func (g *Gossip) markDirty() {
	select {
	case g.dirty <- struct{}{}:
	default:
	}
}

// refusalInterval limits refusal warnings to one per peer per interval: a
// bridged pool re-sends alive messages for the same peer many times.
const refusalInterval = time.Minute

// refusalLog rate-limits refusal warnings per peer.
type refusalLog struct {
	logger hclog.Logger
	clock  clock.Clock
	mu     sync.Mutex
	last   map[string]time.Time
}

func (r *refusalLog) warn(peer, msg string, args ...any) {
	now := r.clock.Now()
	r.mu.Lock()
	last, seen := r.last[peer]
	if seen && now.Sub(last) < refusalInterval {
		r.mu.Unlock()
		r.logger.Debug(msg, args...)
		return
	}
	if len(r.last) > 1024 {
		clear(r.last) // bound memory if many distinct peers are refused
	}
	r.last[peer] = now
	r.mu.Unlock()
	r.logger.Warn(msg, args...)
}
