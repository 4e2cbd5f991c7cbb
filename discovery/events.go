package discovery

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Status is a member's liveness as seen from this node.
type Status string

const (
	// StatusAlive members answer probes.
	StatusAlive Status = "alive"
	// StatusSuspect members missed probes and have a short time to refute.
	StatusSuspect Status = "suspect"
	// StatusDead members failed without leaving.
	StatusDead Status = "dead"
	// StatusLeft members left gracefully.
	StatusLeft Status = "left"
)

// Member is one node of the gossip pool.
type Member struct {
	// ID is the node ID.
	ID string
	// Addr is the gossip host:port.
	Addr string
	// Status is the liveness as seen from this node.
	Status Status
	// Since is when Status last changed, as observed locally.
	Since time.Time
	// Meta is the member's last gossiped metadata.
	Meta Meta
	// Instance identifies the member's current run of the agent: a random
	// nonce each Gossip draws when it is created and gossips beside its
	// Meta. A node ID seen with another Instance is a new incarnation (a
	// restart, or a second machine with a copied data dir, see
	// conflict.go). "" from agents that predate it.
	Instance string
}

// EventType is the kind of membership change.
type EventType int

const (
	// EventJoin: a member joined or came back (alive again).
	EventJoin EventType = iota + 1
	// EventUpdate: a member's metadata changed.
	EventUpdate
	// EventLeave: a member left gracefully.
	EventLeave
	// EventFail: a member was declared dead.
	EventFail
)

// String returns "join", "update", "leave" or "fail".
func (t EventType) String() string {
	switch t {
	case EventJoin:
		return "join"
	case EventUpdate:
		return "update"
	case EventLeave:
		return "leave"
	case EventFail:
		return "fail"
	default:
		return fmt.Sprintf("EventType(%d)", int(t))
	}
}

// Event is one membership change. Events can be dropped (see Gossip.Events),
// so they are a hint to reconcile sooner, never the only source of truth.
type Event struct {
	Type   EventType
	Member Member
}

// rememberedPeer is a member this node may rejoin: its last gossip address
// and when it was last known to be around.
type rememberedPeer struct {
	ID       string    `json:"id"`
	Addr     string    `json:"addr"`
	LastSeen time.Time `json:"last_seen"`
}

// memberTable is this node's view of the pool. memberlist forgets dead nodes
// after GossipToTheDeadTime; the table keeps them (and left ones) until Forget
// or the retention passes, because the agent needs to see a dead server to
// decide when to remove it from Raft. It is updated only from memberlist's
// event callbacks, which memberlist serialises under its node lock, so the
// table and memberlist never disagree about who is dead.
type memberTable struct {
	mu         sync.Mutex
	self       string
	entries    map[string]*Member
	remembered map[string]rememberedPeer
}

func newMemberTable(self string, remembered []rememberedPeer) *memberTable {
	t := &memberTable{
		self:       self,
		entries:    make(map[string]*Member),
		remembered: make(map[string]rememberedPeer),
	}
	for _, p := range remembered {
		if p.ID != self {
			t.remembered[p.ID] = p
		}
	}
	return t
}

// join records a node that is alive (new, or back from dead or left).
func (t *memberTable) join(id, addr string, meta Meta, instance string, now time.Time) Member {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := &Member{ID: id, Addr: addr, Status: StatusAlive, Since: now, Meta: meta, Instance: instance}
	t.entries[id] = m
	t.rememberLocked(id, addr, now)
	return *m
}

// update records new metadata (or address) of a live node.
func (t *memberTable) update(id, addr string, meta Meta, instance string, now time.Time) Member {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.entries[id]
	if !ok {
		m = &Member{ID: id, Status: StatusAlive, Since: now}
		t.entries[id] = m
	}
	m.Addr, m.Meta, m.Instance = addr, meta, instance
	t.rememberLocked(id, addr, now)
	return *m
}

// leave records a node that failed (left=false) or left gracefully. A node
// that left is not rejoined: it said it was going away.
func (t *memberTable) leave(id, addr string, meta Meta, instance string, left bool, now time.Time) Member {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := &Member{ID: id, Addr: addr, Status: StatusDead, Since: now, Meta: meta, Instance: instance}
	if left {
		m.Status = StatusLeft
		delete(t.remembered, id)
	} else {
		t.rememberLocked(id, addr, now)
	}
	t.entries[id] = m
	return *m
}

func (t *memberTable) rememberLocked(id, addr string, now time.Time) {
	if id != t.self {
		t.remembered[id] = rememberedPeer{ID: id, Addr: addr, LastSeen: now}
	}
}

// get returns one entry as the callbacks last recorded it (a suspect still
// reads as alive): a cheap lookup for hot paths.
func (t *memberTable) get(id string) (Member, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.entries[id]
	if !ok {
		return Member{}, false
	}
	return *m, true
}

// forget drops a dead or left member and its remembered address. Live
// members are kept: memberlist would report them again at once.
func (t *memberTable) forget(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m, ok := t.entries[id]; ok && (m.Status == StatusAlive || m.Status == StatusSuspect) {
		return false
	}
	_, inTable := t.entries[id]
	_, inRemembered := t.remembered[id]
	delete(t.entries, id)
	delete(t.remembered, id)
	return inTable || inRemembered
}

// snapshot returns all members sorted by ID. suspects holds the nodes
// memberlist currently reports as suspect: memberlist has no callback for
// that transition, so it is picked up here, with Since the first time it was
// observed. Dead and left members older than retention are pruned.
func (t *memberTable) snapshot(suspects map[string]bool, now time.Time, retention time.Duration) []Member {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Member, 0, len(t.entries))
	for id, m := range t.entries {
		switch m.Status {
		case StatusAlive, StatusSuspect:
			want := StatusAlive
			if suspects[id] {
				want = StatusSuspect
			}
			if m.Status != want {
				m.Status, m.Since = want, now
			}
		case StatusDead, StatusLeft:
			if now.Sub(m.Since) > retention {
				delete(t.entries, id)
				delete(t.remembered, id)
				continue
			}
		}
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// rememberedPeers returns the members to persist and rejoin, sorted by ID.
// Live members count as seen now, so a long-lived member is not dropped as
// stale after a restart; entries unseen for longer than retention are pruned.
func (t *memberTable) rememberedPeers(now time.Time, retention time.Duration) []rememberedPeer {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]rememberedPeer, 0, len(t.remembered))
	for _, id := range slices.Sorted(maps.Keys(t.remembered)) {
		p := t.remembered[id]
		if m, ok := t.entries[id]; ok && (m.Status == StatusAlive || m.Status == StatusSuspect) {
			p.LastSeen = now
			t.remembered[id] = p
		}
		if now.Sub(p.LastSeen) > retention {
			delete(t.remembered, id)
			continue
		}
		out = append(out, p)
	}
	return out
}

// missing returns the remembered members that are not live right now.
func (t *memberTable) missing(now time.Time, retention time.Duration) []rememberedPeer {
	peers := t.rememberedPeers(now, retention)
	t.mu.Lock()
	defer t.mu.Unlock()
	out := peers[:0]
	for _, p := range peers {
		if m, ok := t.entries[p.ID]; ok && (m.Status == StatusAlive || m.Status == StatusSuspect) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// clearRemembered forgets every remembered member: after a graceful leave
// this node must not rejoin its old pool on restart unless told to.
func (t *memberTable) clearRemembered() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.remembered)
}
