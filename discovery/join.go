package discovery

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"
)

// isSelf reports whether ip:port reaches this node's own listener.
func (g *Gossip) isSelf(ip net.IP, port int) bool {
	if port != g.selfPort {
		return false
	}
	if ip.Equal(g.selfIP) {
		return true
	}
	bind := net.ParseIP(g.cfg.BindAddr)
	return ip.IsLoopback() && (bind.IsUnspecified() || bind.IsLoopback())
}

// hasPeers reports whether memberlist knows another live node.
func (g *Gossip) hasPeers() bool { return g.ml.NumMembers() > 1 }

// joinEach joins addresses one at a time so that Shutdown, which cancels
// g.ctx, waits for at most one dial instead of the whole list.
func (g *Gossip) joinEach(addrs []string) (int, error) {
	g.joinAttempts.Add(1)
	var n int
	var errs []error
	for _, a := range addrs {
		if g.ctx.Err() != nil {
			break
		}
		if _, err := g.ml.Join([]string{a}); err != nil {
			errs = append(errs, conflictCause(err))
			continue
		}
		n++
	}
	if err := g.contactHolders(addrs); err != nil {
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}

// joinCandidates lists the seeds, then the remembered members, deduplicated.
func (g *Gossip) joinCandidates(remembered []rememberedPeer) ([]string, []error) {
	addrs, errs := g.resolve(g.ctx, g.cfg.Seeds)
	seen := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		seen[a] = true
	}
	for _, p := range remembered {
		if !seen[p.Addr] {
			seen[p.Addr] = true
			addrs = append(addrs, p.Addr)
		}
	}
	return addrs, errs
}

// joinLoop runs from Start until Shutdown: first join, then keep healing.
func (g *Gossip) joinLoop() {
	defer g.wg.Done()
	if g.joinUntilContact() {
		g.rejoinLoop()
	}
}

// joinUntilContact tries seeds and remembered members with jittered
// exponential backoff until another node answers (or joins us). Seeds that
// fail to resolve, or resolve to nothing, count as "not yet": it never gives
// up on them. It returns false when stopped.
func (g *Gossip) joinUntilContact() bool {
	bo := newBackoff(g.cfg.JoinBackoffMin, g.cfg.JoinBackoffMax)
	for attempt := 1; ; attempt++ {
		if g.hasPeers() {
			g.joined.Store(true)
			g.markSettled()
			return true
		}
		addrs, errs := g.joinCandidates(g.table.rememberedPeers(g.clock.Now(), g.cfg.DeadRetention))
		if len(addrs) == 0 && len(errs) == 0 {
			g.logger.Info("no seeds or remembered members to join; waiting for other nodes to join this one")
			g.markSettled()
			return true
		}
		n, err := g.joinEach(addrs)
		if g.ctx.Err() != nil {
			return false
		}
		if n > 0 && g.hasPeers() {
			g.joined.Store(true)
			g.joinLog.recovered("join succeeded after failures", "attempt", attempt)
			g.logger.Info("joined gossip pool", "contacted", n, "live_members", g.ml.NumMembers())
			g.markSettled()
			return true
		}
		wait := bo.next()
		// An empty DNS answer at boot can last for hours: the warning is
		// repeated only when it changes, or once a minute.
		jerr := errors.Join(append(errs, err)...)
		g.joinLog.failure(fmt.Sprint(len(addrs), jerr), "could not join any seed or remembered member; retrying",
			"attempt", attempt, "candidates", len(addrs), "retry_in", wait, "error", jerr)
		select {
		case <-g.ctx.Done():
			return false
		case <-g.clock.After(wait):
		}
	}
}

// joinSyncDelays are the pauses before each extra push/pull that a node
// makes once it has joined: the first after about a second, the next about
// three seconds later (each jittered by ±50%, so a pool started at once does
// not hit its seed in lockstep).
//
// A join is one push/pull with a seed, so a joiner learns only the members
// the seed knew at that moment; the rest it must hear through gossip, which
// in a mass join is the slow path: each of the n members' alive messages is
// relayed about RetransmitMult*log10(n) times by every node, a few per
// packet, and a member's relays go only to the members it knows yet, so an
// early joiner spends them on the seed and a few others. memberlist's own
// periodic push/pull (PushPullInterval, 30s, stretched to 2 minutes at 200
// members) is too rare to fix that and cannot be made frequent for the
// joiners alone. The first extra sync is with a seed, which by then has
// heard from every member that joined through it; the second with a random
// live member, spreading the load off the seed and catching anything the
// first missed.
var joinSyncDelays = []time.Duration{time.Second, 3 * time.Second}

// rejoinLoop makes the extra push/pulls of joinSyncDelays, then
// periodically re-joins when a remembered member is missing.
func (g *Gossip) rejoinLoop() {
	t := g.clock.NewTicker(g.cfg.RejoinInterval)
	defer t.Stop()
	var syncs int
	syncTimer := g.clock.After(jitter(joinSyncDelays[0]))
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-t.C():
			g.rejoinOnce()
		case <-syncTimer:
			g.syncOnce(syncs == 0)
			syncs++
			syncTimer = nil
			if syncs < len(joinSyncDelays) {
				syncTimer = g.clock.After(jitter(joinSyncDelays[syncs]))
			}
		}
	}
}

// syncOnce makes one push/pull (a memberlist join, which with a known member
// is just a full state exchange) with a seed, when fromSeed and one is
// configured, or else with a random live member.
func (g *Gossip) syncOnce(fromSeed bool) {
	var addr string
	if fromSeed {
		if addrs, _ := g.resolve(g.ctx, g.cfg.Seeds); len(addrs) > 0 {
			addr = addrs[rand.N(len(addrs))]
		}
	}
	if addr == "" {
		// From the table: memberlist's own nodes may be rewritten while
		// read outside its lock.
		var live []string
		for _, m := range g.Members() {
			if m.ID != g.cfg.NodeID && m.Status == StatusAlive {
				live = append(live, m.Addr)
			}
		}
		if len(live) == 0 {
			return
		}
		addr = live[rand.N(len(live))]
	}
	before := g.ml.NumMembers()
	if _, err := g.ml.Join([]string{addr}); err != nil {
		g.logger.Debug("push/pull after join failed", "peer", addr, "error", err)
		return
	}
	g.joinSyncs.Add(1)
	g.logger.Debug("push/pull after join", "peer", addr, "live_members_before", before, "live_members", g.ml.NumMembers())
}

// jitter returns a duration in [d/2, 3d/2).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d)
}

// maxRejoinMissing caps how many missing members one rejoin round contacts
// (at random, besides the seeds). Each contact is a full push/pull, and one
// with a member that is really alive is enough to bring it back: it learns
// that it was declared dead and refutes. Contacting every missing member
// turned a burst of false deaths in a loaded pool of 200 into thousands of
// push/pulls every RejoinInterval, which loaded the pool further.
const maxRejoinMissing = 3

// sample returns at most n of peers, chosen at random; it may reorder peers.
func sample(peers []rememberedPeer, n int) []rememberedPeer {
	if len(peers) <= n {
		return peers
	}
	rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	return peers[:n]
}

// rejoinOnce heals partitions that outlast memberlist's memory: once both
// sides have declared each other dead and then forgotten them (after
// GossipToTheDeadTime) memberlist never contacts them again, so nothing but
// an explicit join merges the halves. A join with nodes already connected is
// one push/pull each, so it is cheap to do whenever something is missing.
func (g *Gossip) rejoinOnce() {
	missing := g.table.missing(g.clock.Now(), g.cfg.DeadRetention)
	alone := !g.hasPeers()
	if len(missing) == 0 && (!alone || len(g.cfg.Seeds) == 0) {
		return
	}
	missing = sample(missing, maxRejoinMissing)
	addrs, errs := g.joinCandidates(missing)
	if len(addrs) == 0 {
		return
	}
	ids := make([]string, len(missing))
	for i, p := range missing {
		ids[i] = p.ID
	}
	n, err := g.joinEach(addrs)
	if n > 0 {
		g.rejoins.Add(1)
		if g.hasPeers() {
			g.joined.Store(true)
		}
	}
	g.logger.Debug("rejoin attempt", "missing", ids, "candidates", len(addrs), "contacted", n,
		"error", errors.Join(append(errs, err)...))
}

// backoff is jittered exponential backoff between min and max.
type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(lo, hi time.Duration) *backoff { return &backoff{min: lo, max: hi} }

// next doubles the delay up to max and returns a wait in [d/2, d]: half
// fixed so retries never bunch up at zero, half random so many nodes
// restarted together do not hit the seeds in lockstep.
func (b *backoff) next() time.Duration {
	switch {
	case b.cur == 0:
		b.cur = b.min
	case b.cur > b.max/2:
		b.cur = b.max
	default:
		b.cur *= 2
	}
	if b.cur <= 0 {
		return 0
	}
	half := b.cur / 2
	return half + rand.N(b.cur-half+1)
}
