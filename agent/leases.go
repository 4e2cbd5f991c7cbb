package agent

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/clusteragent/agent/agent/kv"
)

// Lease expiry.
//
// The state machine records leases but never expires them (apply has no
// clock). The leader keeps a deadline per lease in memory and, once one
// passes, commits a revoke through Raft. Renewals go to the leader only and
// are not written to the log, as in etcd: a renew moves the deadline, then
// confirms leadership with a quorum before it is acknowledged.
//
// Safety rule: a lease never expires sooner than its TTL after the last
// renew acknowledged to the client.
//   - On one leader: the deadline is set at or after the renew arrived,
//     which is after the client sent it, and expiry is committed only after
//     the deadline.
//   - Across leaders: a new leader gives every lease its full TTL counted
//     from when it took up its duties (after its first barrier). An old
//     leader's acknowledged renew confirmed leadership with a quorum after
//     the deadline was set, so the new leader was elected after that, and
//     its deadline is later than the old one.
//   - A renew racing with the expiry of its lease: once the leader decides
//     to expire a lease it marks it expiring, and renews of it answer "not
//     found" from then on, in this term, even while the revoke is retried,
//     so no renew can be acknowledged for a lease whose revoke may commit.

// leaseTick is how often the leader looks for expired leases: the most a
// lease outlives its deadline, plus one commit.
const leaseTick = 100 * time.Millisecond

// leaseKeeper is the leader's lease clock. Only the leader's duties make it
// active; every method is safe from any goroutine.
type leaseKeeper struct {
	mu        sync.Mutex
	active    bool
	deadlines map[uint64]time.Time
	expiring  map[uint64]bool
}

// start activates the keeper at now, for a new term of leadership: every
// lease gets its full TTL from now.
func (k *leaseKeeper) start(now time.Time, leases []kv.Lease) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.startLocked(now, leases)
}

func (k *leaseKeeper) startLocked(now time.Time, leases []kv.Lease) {
	k.active = true
	k.deadlines = map[uint64]time.Time{}
	k.expiring = map[uint64]bool{}
	for _, l := range leases {
		k.deadlines[l.ID] = now.Add(l.TTL)
	}
}

// stop deactivates the keeper when leadership ends.
func (k *leaseKeeper) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.active, k.deadlines, k.expiring = false, nil, nil
}

// sync adopts leases granted since (full TTL from now) and forgets the
// ones gone from the state machine; it returns the leases now due.
func (k *leaseKeeper) sync(now time.Time, leases []kv.Lease) []uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.active {
		return nil
	}
	live := make(map[uint64]bool, len(leases))
	for _, l := range leases {
		live[l.ID] = true
		if _, ok := k.deadlines[l.ID]; !ok {
			k.deadlines[l.ID] = now.Add(l.TTL)
		}
	}
	for id := range k.deadlines {
		if !live[id] {
			delete(k.deadlines, id)
			delete(k.expiring, id)
		}
	}
	due := dueLeases(k.deadlines, k.expiring, now)
	for _, id := range due {
		k.expiring[id] = true
	}
	return due
}

// dueLeases returns, sorted, the leases whose deadline has passed at now
// and that are not being expired already.
func dueLeases(deadlines map[uint64]time.Time, expiring map[uint64]bool, now time.Time) []uint64 {
	var due []uint64
	for id, d := range deadlines {
		if now.After(d) && !expiring[id] {
			due = append(due, id)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i] < due[j] })
	return due
}

// renew moves lease id's deadline to now+ttl. It answers false when this
// keeper is not active (not the leader) or the lease is being expired.
func (k *leaseKeeper) renew(id uint64, ttl time.Duration, now time.Time) (active, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.active {
		return false, false
	}
	if k.expiring[id] {
		return true, false
	}
	k.deadlines[id] = now.Add(ttl)
	return true, true
}

// remaining returns how long lease id has left at now as this leader sees
// it (its full TTL when not tracked yet), and whether the keeper is active.
func (k *leaseKeeper) remaining(id uint64, ttl time.Duration, now time.Time) (time.Duration, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.active {
		return 0, false
	}
	d, ok := k.deadlines[id]
	if !ok {
		return ttl, true
	}
	if k.expiring[id] {
		return 0, true
	}
	return max(d.Sub(now), 0), true
}

// runLeaseExpiry is a leader duty: it starts the keeper, then expires due
// leases every leaseTick until ctx ends (leadership lost).
func (a *Agent) runLeaseExpiry(ctx context.Context) {
	if a.kv == nil {
		return
	}
	a.leases.start(time.Now(), a.kv.View().Leases())
	defer a.leases.stop()
	ticker := time.NewTicker(leaseTick)
	defer ticker.Stop()
	var pending []uint64 // decided expiring, revoke not yet committed
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		pending = append(pending, a.leases.sync(time.Now(), a.kv.View().Leases())...)
		pending = a.expireLeases(ctx, pending)
	}
}

// expireLeases commits a revoke for each lease in ids and returns the ones
// whose revoke did not commit (to retry; they stay marked expiring).
func (a *Agent) expireLeases(ctx context.Context, ids []uint64) []uint64 {
	var left []uint64
	for _, id := range ids {
		if _, err := a.kvWrite(ctx, kv.LeaseRevokeMutation(id)); err != nil {
			a.logger.Warn("expiring a lease failed; retrying", "lease", id, "error", err)
			left = append(left, id)
			continue
		}
		a.logger.Debug("lease expired", "lease", id)
	}
	return left
}

// restart gives every lease its full TTL from now, if the keeper is active
// (this node leads): after a restore, whose leases replace the ones the
// deadlines were kept for.
func (k *leaseKeeper) restart(now time.Time, leases []kv.Lease) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.active {
		k.startLocked(now, leases)
	}
}
