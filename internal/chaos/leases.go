package chaos

import (
	"errors"

	"github.com/clusteragent/agent/api"
	"github.com/clusteragent/agent/internal/chaos/linearize"

	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Lease and lock traffic.
//
// Lease clients grant a lease, attach a key to it, renew it a few times
// while reading the key back, then revoke it or let it expire. Lock
// contenders take one lock key with cas=0 on a lease of their own, hold it
// while renewing, and release it. Everything is timed with the wall clock
// of this one process. The checks (checkLeases, checkLocks) hold the
// safety rule: a lease lives at least TTL after the send time of its last
// acknowledged grant or renew, so a key attached to it reads back until
// then and no second holder gets the lock before then.

// leaseTTL is the TTL of every lease the traffic grants: above the
// minimum, and short enough to expire several times in a run.
const leaseTTL = 2 * time.Second

// LockKey is the key the lock contenders take.
const LockKey = KeyPrefix + "lock"

// leaseRead is a linearizable read of an attached key that came back.
type leaseRead struct {
	Lease       uint64
	Key         string
	Sent, At    time.Time
	Found       bool
	AttachedAt  time.Time // when the attach was acknowledged
	RevokedSent time.Time // when the client sent a revoke, zero if none
}

// lockHold is one contender's hold of the lock, as the contender saw it:
// from the acknowledged acquire to the earlier of its release and the end
// of its lease as the safety rule gives it.
type lockHold struct {
	Contender int
	Index     uint64 // the acquire's index, the fencing token
	Acquired  time.Time
	End       time.Time
}

// leaseHistory is what the lease traffic recorded.
type leaseHistory struct {
	mu     sync.Mutex
	acked  map[uint64][]time.Time // lease → send times of acknowledged grants and renews
	reads  []leaseRead
	holds  []lockHold
	counts map[string]int
}

func (h *leaseHistory) ack(id uint64, sent time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.acked[id] = append(h.acked[id], sent)
}

func (h *leaseHistory) count(what string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[what]++
}

// leaseClient is one sequential lease or lock client.
type leaseClient struct {
	id    int
	c     Cluster
	hc    *http.Client
	apis  apiClients
	rng   *rand.Rand
	nodes func() []string
	h     *leaseHistory
	// rec is the key/value traffic's recorder: the lease keys' attach
	// puts and reads join the linearizability history, where the model
	// lets a key on a lease vanish but never come back.
	rec *linearize.Recorder
}

// leaseClientBase offsets the lease clients' porcupine client IDs past
// the key/value clients'.
const leaseClientBase = 1 << 16

// client is this client's ID in the linearizability history.
func (lc *leaseClient) client() int { return leaseClientBase + lc.id }

// runLeaseTraffic runs lease clients and lock contenders until ctx ends.
func runLeaseTraffic(ctx context.Context, c Cluster, rec *linearize.Recorder, clients, contenders int, timeout time.Duration, seed uint64, nodes func() []string) *leaseHistory {
	h := &leaseHistory{acked: map[uint64][]time.Time{}, counts: map[string]int{}}
	var wg sync.WaitGroup
	for i := range clients + contenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lc := &leaseClient{id: i, c: c, nodes: nodes, h: h, rec: rec, rng: rand.New(rand.NewPCG(seed, 0x1ea5e+uint64(i))),
				hc: &http.Client{Timeout: timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true}}}
			lc.apis = apiClients{hc: lc.hc, byURL: map[string]*api.Client{}}
			defer lc.hc.CloseIdleConnections()
			for ctx.Err() == nil {
				if i < clients {
					lc.leaseRound(ctx)
				} else {
					lc.lockRound(ctx)
				}
			}
		}()
	}
	wg.Wait()
	return h
}

// errNoNode: every node is stopped; the call fails like a refused dial.
var errNoNode = errors.New("no node to send to")

// pick picks a node at random, as a load balancer would, and returns its
// client.
func (lc *leaseClient) pick() (*api.Client, error) {
	list := lc.nodes()
	if len(list) == 0 {
		return nil, errNoNode
	}
	return lc.apis.get(lc.c.URL(list[lc.rng.IntN(len(list))]))
}

// call runs f on a picked node's client.
func (lc *leaseClient) call(f func(c *api.Client) error) error {
	c, err := lc.pick()
	if err != nil {
		return err
	}
	return f(c)
}

// grant grants a lease; 0 when it was not acknowledged.
func (lc *leaseClient) grant(ctx context.Context) uint64 {
	sent := time.Now()
	var info api.LeaseInfo
	err := lc.call(func(c *api.Client) (err error) {
		info, err = c.LeaseGrant(ctx, leaseTTL)
		return err
	})
	if err != nil {
		lc.h.count(fmt.Sprintf("grant failed (%d)", statusOf(err)))
		return 0
	}
	id, perr := strconv.ParseUint(info.ID, 10, 64)
	if perr != nil {
		return 0
	}
	lc.h.ack(id, sent)
	return id
}

// renew renews id and reports whether it was acknowledged; gone is true
// when the lease is no more (404).
func (lc *leaseClient) renew(ctx context.Context, id uint64) (ok, gone bool) {
	sent := time.Now()
	err := lc.call(func(c *api.Client) error {
		_, err := c.LeaseRenew(ctx, strconv.FormatUint(id, 10))
		return err
	})
	switch {
	case err == nil:
		lc.h.ack(id, sent)
		return true, false
	case errors.Is(err, api.ErrNotFound):
		lc.h.count("renew of a gone lease")
		return false, true
	}
	lc.h.count("renew failed")
	return false, false
}

// revoke revokes id (best effort) and returns when it was sent.
func (lc *leaseClient) revoke(ctx context.Context, id uint64) time.Time {
	sent := time.Now()
	_ = lc.call(func(c *api.Client) error {
		_, err := c.LeaseRevoke(ctx, strconv.FormatUint(id, 10))
		return err
	})
	return sent
}

// leaseRound: grant, attach a key, renew and read it back a few times,
// then revoke or let the lease expire.
func (lc *leaseClient) leaseRound(ctx context.Context) {
	id := lc.grant(ctx)
	if id == 0 {
		sleepCtx(ctx, 100*time.Millisecond) // poll interval after a failed grant
		return
	}
	key := fmt.Sprintf("%slease/c%d-%d", KeyPrefix, lc.id, id)
	lease := strconv.FormatUint(id, 10)
	p := lc.rec.BeginLeasePut(lc.client(), key, "v", lease)
	var res api.KVWrite
	err := lc.call(func(c *api.Client) (err error) {
		res, err = c.KVPut(ctx, key, []byte("v"), &api.PutOptions{Lease: lease})
		return err
	})
	recordWrite(p, res, err)
	if err != nil {
		lc.h.count("attach failed")
		lc.revoke(ctx, id)
		return
	}
	attached := time.Now()
	var revoked time.Time
	for n := lc.rng.IntN(6); ctx.Err() == nil; n-- {
		if n == 0 && lc.rng.IntN(2) == 0 {
			revoked = lc.revoke(ctx, id)
		}
		lc.read(ctx, id, key, attached, revoked)
		if n <= 0 {
			break
		}
		sleepCtx(ctx, leaseTTL/4)
		if _, gone := lc.renew(ctx, id); gone {
			lc.read(ctx, id, key, attached, revoked)
			return
		}
	}
	if revoked.IsZero() {
		// Let it expire, and read the key once it must be gone.
		sleepCtx(ctx, leaseTTL)
		lc.read(ctx, id, key, attached, revoked)
	}
}

// read reads key back (linearizable) and records the answer, for the
// lease timing check and in the linearizability history.
func (lc *leaseClient) read(ctx context.Context, id uint64, key string, attached, revoked time.Time) {
	sent := time.Now()
	p := lc.rec.BeginGet(lc.client(), key)
	var e api.KVEntry
	err := lc.call(func(c *api.Client) (err error) {
		e, _, err = c.KVGet(ctx, key, nil)
		return err
	})
	recordGet(p, e, err)
	if err != nil && !errors.Is(err, api.ErrNotFound) {
		return
	}
	lc.h.mu.Lock()
	defer lc.h.mu.Unlock()
	lc.h.reads = append(lc.h.reads, leaseRead{Lease: id, Key: key, Sent: sent, At: time.Now(), Found: err == nil,
		AttachedAt: attached, RevokedSent: revoked})
}

// lockRound: try to take the lock on a fresh lease; if taken, hold it
// while renewing for a while, then release it.
func (lc *leaseClient) lockRound(ctx context.Context) {
	id := lc.grant(ctx)
	if id == 0 {
		sleepCtx(ctx, 100*time.Millisecond) // poll interval after a failed grant
		return
	}
	lc.h.mu.Lock()
	end := lc.h.safeUntil(id) // from the grant's send time
	lc.h.mu.Unlock()
	var w api.KVWrite
	err := lc.call(func(c *api.Client) (err error) {
		w, err = c.KVPut(ctx, LockKey, []byte(fmt.Sprintf("c%d-%d", lc.id, id)),
			&api.PutOptions{CAS: api.Index(0), Lease: strconv.FormatUint(id, 10)})
		return err
	})
	if err != nil {
		lc.revoke(ctx, id)
		sleepCtx(ctx, time.Duration(50+lc.rng.IntN(200))*time.Millisecond) // back off before contending again
		return
	}
	hold := lockHold{Contender: lc.id, Index: w.Index, Acquired: time.Now()}
	lc.h.count("lock acquired")
	for n := 1 + lc.rng.IntN(6); n > 0 && ctx.Err() == nil && time.Now().Before(end); n-- {
		sleepCtx(ctx, leaseTTL/4)
		sent := time.Now()
		if ok, gone := lc.renew(ctx, id); ok {
			end = sent.Add(leaseTTL)
		} else if gone {
			break
		}
	}
	release := time.Now()
	_ = lc.call(func(c *api.Client) error {
		_, err := c.KVDelete(ctx, LockKey, &api.PutOptions{CAS: api.Index(w.Index)})
		return err
	})
	lc.revoke(ctx, id)
	hold.End = minTime(end, release)
	lc.h.mu.Lock()
	lc.h.holds = append(lc.h.holds, hold)
	lc.h.mu.Unlock()
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// safeUntil returns the end of lease id's safe window as its acknowledged
// grants and renews give it.
func (h *leaseHistory) safeUntil(id uint64) time.Time {
	var last time.Time
	for _, t := range h.acked[id] {
		if t.After(last) {
			last = t
		}
	}
	return last.Add(leaseTTL)
}

// checkLeases: a key attached to a lease reads back (linearizably) by any
// read that completed before the lease's safe window ended, unless its
// client had sent a revoke first.
func checkLeases(h *leaseHistory) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.reads {
		until := h.safeUntil(r.Lease)
		revoked := !r.RevokedSent.IsZero() && r.RevokedSent.Before(r.At)
		if !r.Found && !revoked && r.Sent.After(r.AttachedAt) && r.At.Before(until) {
			out = append(out, fmt.Sprintf("lease %d: %s read absent at %s, %s before the lease's last acknowledged renew + TTL",
				r.Lease, r.Key, r.At.Format(time.RFC3339Nano), until.Sub(r.At)))
		}
	}
	return out
}

// checkLocks: in fencing-token order, no hold begins before the previous
// one ended.
func checkLocks(h *leaseHistory) []string {
	h.mu.Lock()
	holds := append([]lockHold(nil), h.holds...)
	h.mu.Unlock()
	sort.Slice(holds, func(i, j int) bool { return holds[i].Index < holds[j].Index })
	var out []string
	for i := 1; i < len(holds); i++ {
		p, n := holds[i-1], holds[i]
		if n.Acquired.Before(p.End) {
			out = append(out, fmt.Sprintf("lock: contender %d acquired at index %d, %s before contender %d's hold (index %d) ended",
				n.Contender, n.Index, p.End.Sub(n.Acquired), p.Contender, p.Index))
		}
	}
	return out
}

// statusOf is the HTTP status of an agent's error answer, 0 for any other
// failure.
func statusOf(err error) int {
	var se *api.StatusError
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return 0
}
