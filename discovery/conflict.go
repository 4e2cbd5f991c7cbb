package discovery

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Duplicate node IDs.
//
// A node ID is the memberlist node name and the Raft server ID, so two
// processes running with one ID (a data dir copied to a second machine, a
// VM cloned with its disk) would make two servers claim one Raft history.
// memberlist already refuses an alive message for a known name at another
// address unless that address has been dead for DeadNodeReclaimTime, but it
// says so only in its own log, on whichever node receives the message, and a
// join that brings such a message is otherwise merged: the newcomer would
// believe it had joined while every other member ignores it.
//
// The legitimate look-alike is a node restarted at a new address with its
// data dir: its previous run is dead, but the others may not have noticed
// yet. Nobody but the two processes can tell the cases apart, and only
// partly, so the rules are:
//
//   - Each run draws a random Instance and records its wall-clock Started
//     time in its gossip metadata.
//   - A node that sees its own ID claimed at another address by a run that
//     started after its own is the holder of a duplicated ID: the claimant
//     cannot be an earlier run of this node. It logs an ERROR, counts it and
//     refuses the join or alive message.
//   - A joining node whose seed reports its ID alive (or suspect) at
//     another address is the newcomer: it refuses the whole join, logs an
//     ERROR, counts it and retries like any failed join. After a restart at
//     a new address this lasts until the seeds declare the old address dead
//     (about 1.5 s on a LAN), which the message says; for a real duplicate
//     it lasts as long as the holder lives. The newcomer also contacts the
//     holder directly, once a minute, so that the holder reports it too
//     even when the two have no seed in common.
//   - A dead or left entry for this ID is an earlier run: never a conflict.
type conflictState struct {
	// self is this node's advertised gossip host:port, set once memberlist
	// is created; until then no conflict can be judged.
	self  atomic.Pointer[string]
	count atomic.Uint64

	mu       sync.Mutex
	reported map[string]time.Time    // claimant address -> last ERROR
	holders  map[string]*holderState // holder address -> when seen, contacted
}

// holderState is one address a seed reported holding this node's ID.
type holderState struct{ seen, contacted time.Time }

// conflictReportInterval limits the ERROR (and the count) to one per
// claimant address per interval: each alive message is relayed many times
// and a refused newcomer retries every few seconds.
const conflictReportInterval = time.Minute

// maxConflictAddrs bounds the per-address maps.
const maxConflictAddrs = 256

// newRun draws the identity of this run. Started is wall-clock time, not
// the injectable clock: it is compared with other processes' start times.
func newRun() wireExtra {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the platform is broken
	}
	return wireExtra{Instance: hex.EncodeToString(b), Started: time.Now().UnixNano()} //nolint:forbidigo // see above
}

// NodeIDConflicts returns how many times this node found its node ID used
// by another live member at another address (at most one per address per
// minute); gossip_node_id_conflicts_total.
func (g *Gossip) NodeIDConflicts() uint64 { return g.conflicts.count.Load() }

// claimant reports whether n is another run using this node's ID: the same
// name at another address, or with another instance nonce.
func (g *Gossip) claimant(n *memberlist.Node) (wireMeta, bool) {
	self := g.conflicts.self.Load()
	if n.Name != g.cfg.NodeID || self == nil || n.Address() == *self {
		return wireMeta{}, false
	}
	w, err := decodeWire(n.Meta)
	if err != nil {
		w = wireMeta{} // an older agent, or garbage: treated as an earlier run
	}
	return w, w.Instance != g.run.Instance
}

// checkMergeConflict refuses a join whose remote state holds a live member
// with this node's ID at another address.
func (g *Gossip) checkMergeConflict(peers []*memberlist.Node) error {
	for _, p := range peers {
		if p.State != memberlist.StateAlive && p.State != memberlist.StateSuspect {
			continue // an earlier run of this node that is gone
		}
		w, ok := g.claimant(p)
		if !ok {
			continue
		}
		self, other := *g.conflicts.self.Load(), p.Address()
		if w.Started > g.run.Started {
			g.reportHolder(self, other)
			return fmt.Errorf("%w: node ID %q belongs to this node at %s; refusing the run that started later at %s",
				ErrNodeIDConflict, g.cfg.NodeID, self, other)
		}
		g.reportNewcomer(self, other)
		return fmt.Errorf("%w: node ID %q is held by a live member at %s; this node is at %s",
			ErrNodeIDConflict, g.cfg.NodeID, other, self)
	}
	return nil
}

// conflictDelegate hears memberlist's own conflicts: an alive message for
// a known name at another address, refused by memberlist. It is called with
// memberlist's node lock held, so it only logs, counts and enqueues.
type conflictDelegate struct{ g *Gossip }

var _ memberlist.ConflictDelegate = conflictDelegate{}

// NotifyConflict tells a claim on this node's own ID (a possible duplicate,
// see notifySelfConflict) from another member seen at a new address (a
// restart elsewhere, followed up by queueReclaim).
func (d conflictDelegate) NotifyConflict(existing, other *memberlist.Node) {
	if existing.Name == d.g.cfg.NodeID {
		d.g.notifySelfConflict(existing, other)
		return
	}
	d.g.queueReclaim(other)
}

// notifySelfConflict reports an alive message that claims this node's ID.
// A conflict between two other members is left to them (and to
// memberlist's own log line): this node cannot tell a duplicate from a
// restart.
func (g *Gossip) notifySelfConflict(existing, other *memberlist.Node) {
	w, ok := g.claimant(other)
	if !ok {
		return
	}
	if w.Started > g.run.Started {
		g.reportHolder(existing.Address(), other.Address())
		return
	}
	// Started before this run: a stale alive message of this node's
	// previous run (restarted at a new address), or the holder of an ID
	// this node has copied, which reports it as the holder.
	g.refusals.warn("conflict:"+other.Address(), "an alive message claims this node's ID at another address "+
		"from a run that started before this one: an earlier run of this node not yet declared dead, "+
		"or another machine with a copy of this data dir", "node_id", g.cfg.NodeID,
		"addr", existing.Address(), "other_addr", other.Address())
}

func (g *Gossip) reportHolder(self, other string) {
	if !g.conflicts.shouldReport(other, g.clock.Now()) {
		return
	}
	g.logger.Error("node ID conflict: another agent started later with this node's ID at another address; "+
		"refusing it. Two machines run with copies of one data dir: stop the other one and give it an empty data dir",
		"node_id", g.cfg.NodeID, "addr", self, "other_addr", other)
}

func (g *Gossip) reportNewcomer(self, other string) {
	g.conflicts.addHolder(other, g.clock.Now())
	if !g.conflicts.shouldReport(other, g.clock.Now()) {
		return
	}
	g.logger.Error("node ID conflict: this node's ID is held by a live member at another address; refusing to join "+
		"and retrying. If this node just restarted at a new address this clears once the old address is declared "+
		"dead; otherwise another machine runs with a copy of this data dir: stop this one and give it an empty data dir",
		"node_id", g.cfg.NodeID, "addr", self, "other_addr", other)
}

// shouldReport counts the conflict and says whether to log it: once per
// claimant address per conflictReportInterval.
func (c *conflictState) shouldReport(addr string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if last, ok := c.reported[addr]; ok && now.Sub(last) < conflictReportInterval {
		return false
	}
	if c.reported == nil || len(c.reported) >= maxConflictAddrs {
		c.reported = make(map[string]time.Time)
	}
	c.reported[addr] = now
	c.count.Add(1)
	return true
}

func (c *conflictState) addHolder(addr string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.holders == nil || len(c.holders) >= maxConflictAddrs {
		c.holders = make(map[string]*holderState)
	}
	if h, ok := c.holders[addr]; ok {
		h.seen = now
		return
	}
	c.holders[addr] = &holderState{seen: now}
}

// holdersToContact returns the holders of this node's ID not among tried
// and not contacted within conflictReportInterval, and marks them
// contacted. A holder no seed has reported for two intervals is dropped:
// the conflict is over (or was an earlier run of this node, now dead), and
// its address must not be dialled forever.
func (c *conflictState) holdersToContact(tried []string, now time.Time) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for addr, h := range c.holders {
		switch {
		case now.Sub(h.seen) > 2*conflictReportInterval:
			delete(c.holders, addr)
		case slices.Contains(tried, addr) || (!h.contacted.IsZero() && now.Sub(h.contacted) < conflictReportInterval):
		default:
			h.contacted = now
			out = append(out, addr)
		}
	}
	return out
}

// contactHolders joins the holders of this node's ID that a seed reported,
// so that they report the conflict as well. The join is refused on both
// sides; its error is returned for the caller's log.
func (g *Gossip) contactHolders(tried []string) error {
	var errs []error
	for _, h := range g.conflicts.holdersToContact(tried, g.clock.Now()) {
		if g.ctx.Err() != nil {
			break
		}
		if _, err := g.ml.Join([]string{h}); err != nil {
			errs = append(errs, conflictCause(err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("contacting the holder of this node's ID: %w", errs[0])
}

// conflictCause makes a join error that memberlist flattened to text (it
// formats the merge delegate's error with %v) match ErrNodeIDConflict again,
// so Join's callers can test for it with errors.Is.
func conflictCause(err error) error {
	if errors.Is(err, ErrNodeIDConflict) || !strings.Contains(err.Error(), ErrNodeIDConflict.Error()) {
		return err
	}
	return &causedError{err: err, cause: ErrNodeIDConflict}
}

// causedError keeps err's text and adds cause to its chain.
type causedError struct{ err, cause error }

func (e *causedError) Error() string   { return e.err.Error() }
func (e *causedError) Unwrap() []error { return []error{e.err, e.cause} }
