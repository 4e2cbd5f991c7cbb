package discovery

import (
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/clusteragent/agent/internal/clock"
)

// A node that restarts with its ID at a new address is refused by
// memberlist ("Conflicting address") for as long as its old incarnation is
// not yet dead here, and memberlist does not ask again: the newcomer's own
// alive broadcasts stop after a few retransmits, and the next push/pull may
// be a minute away. So on a conflict this node remembers the claim and
// pushes/pulls with the new address on a short timer until memberlist has
// taken it (once the failure detector declared the old incarnation dead,
// DeadNodeReclaimTime lets it in), or until reclaimWindow passes: a real
// duplicate ID (two live nodes) costs a bounded number of retries, and is
// still refused.
const (
	// reclaimWindow is long enough for the failure detector of any profile
	// to declare the old incarnation dead.
	reclaimWindow = 30 * time.Second
	// reclaimInterval spaces the retries for one claim.
	reclaimInterval = 300 * time.Millisecond
	// maxReclaims bounds the claims followed at once.
	maxReclaims = 64
)

// reclaimClaim is one node ID seen at a new address.
type reclaimClaim struct {
	id, addr string
}

// pendingReclaim is a claim being retried until its deadline.
type pendingReclaim struct {
	addr  string
	until time.Time
}

// reclaimAction is what the retry loop does with a pending claim.
type reclaimAction int

const (
	reclaimRetry  reclaimAction = iota // push/pull with the new address again
	reclaimDone                        // memberlist has the member there
	reclaimGiveUp                      // the window passed: a real conflict
)

// reclaimStep decides about one pending claim given the member table's
// current entry for that ID.
func reclaimStep(p pendingReclaim, cur Member, known bool, now time.Time) reclaimAction {
	if known && cur.Addr == p.addr && (cur.Status == StatusAlive || cur.Status == StatusSuspect) {
		return reclaimDone
	}
	if !now.Before(p.until) {
		return reclaimGiveUp
	}
	return reclaimRetry
}

// queueReclaim queues the claim of another member seen at a new address
// (see conflictDelegate); memberlist holds its node lock, so it only
// enqueues.
func (g *Gossip) queueReclaim(other *memberlist.Node) {
	select {
	case g.reclaims <- reclaimClaim{id: other.Name, addr: other.Address()}:
	default: // the loop is busy; memberlist reports the conflict again
	}
}

// reclaimLoop follows the queued claims until memberlist has taken them or
// they expire. Its ticker runs only while a claim is pending: a member with
// nothing to reclaim, which is nearly always, is not woken every
// reclaimInterval (an idle gossip-only agent's wake-ups are most of its CPU).
func (g *Gossip) reclaimLoop() {
	defer g.wg.Done()
	pending := make(map[string]pendingReclaim)
	var ticker clock.Ticker
	var tick <-chan time.Time // nil while nothing is pending: never ready
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	for {
		select {
		case <-g.ctx.Done():
			return
		case c := <-g.reclaims:
			if !g.addReclaim(pending, c) || ticker != nil {
				continue
			}
			ticker = g.clock.NewTicker(reclaimInterval)
			tick = ticker.C()
		case <-tick:
			g.retryReclaims(pending)
			if len(pending) == 0 {
				ticker.Stop()
				ticker, tick = nil, nil
			}
		}
	}
}

// addReclaim records a new claim; it reports false for one already pending
// at the same address or when maxReclaims are followed already.
func (g *Gossip) addReclaim(pending map[string]pendingReclaim, c reclaimClaim) bool {
	if p, ok := pending[c.id]; ok && p.addr == c.addr {
		return false
	}
	if len(pending) >= maxReclaims {
		return false
	}
	g.logger.Info("node ID seen at a new address; letting it in once its old address is dead",
		"member", c.id, "new_addr", c.addr)
	pending[c.id] = pendingReclaim{addr: c.addr, until: g.clock.Now().Add(reclaimWindow)}
	return true
}

// retryReclaims pushes/pulls with every pending claim's address; that
// exchange hands memberlist the claimant's alive state again.
func (g *Gossip) retryReclaims(pending map[string]pendingReclaim) {
	for id, p := range pending {
		cur, known := g.table.get(id)
		switch reclaimStep(p, cur, known, g.clock.Now()) {
		case reclaimDone:
			g.logger.Info("member reclaimed its ID at a new address", "member", id, "addr", p.addr)
			delete(pending, id)
		case reclaimGiveUp:
			g.logger.Warn("gave up letting a node ID in at a new address: its old address is still alive",
				"member", id, "new_addr", p.addr, "old_addr", cur.Addr)
			delete(pending, id)
		case reclaimRetry:
			if g.ctx.Err() != nil {
				return
			}
			if _, err := g.ml.Join([]string{p.addr}); err != nil {
				g.logger.Debug("reclaim push/pull failed", "member", id, "addr", p.addr, "error", err)
			}
		}
	}
}
