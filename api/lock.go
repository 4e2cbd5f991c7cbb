package api

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// LockPrefix is the reserved prefix of lock keys: lock NAME is the key
// LockPrefix+NAME, created with cas=0 on the holder's lease, so any HTTP
// client can take part in the same lock.
const LockPrefix = "_lock/"

// ErrLockLost is returned (or Lost is closed) once a lock's lease is gone:
// it expired or was revoked, and another holder may have the lock.
var ErrLockLost = errors.New("lock lost: its lease expired or was revoked")

// Lock is one holder's claim on a lock: a lease, renewed every TTL/3 in
// the background, and the key LockPrefix+name created on it with cas=0.
// Two holders never hold it at once as long as the holder stops relying
// on it by SafeUntil; the lock's modify index (Index) is a fencing token
// for work that may land later.
//
// A Lock is used once: Acquire, then Release. Its methods are safe for
// concurrent use.
type Lock struct {
	c     *Client
	key   string
	ttl   time.Duration
	value []byte

	mu      sync.Mutex
	lease   string
	index   uint64
	lastAck time.Time // send time of the last acknowledged grant or renew
	lost    chan struct{}
	once    sync.Once
	stop    context.CancelFunc
	renewed chan struct{} // closed when the renew loop has returned
	// OnRenewError, when set, is told of a renew that failed but did not
	// lose the lease (a timeout, no leader): the holder may want to log it.
	OnRenewError func(error)
}

// NewLock returns a claim on lock name with a lease of ttl (1s to 24h);
// value is what the lock key holds while this holder has it (for people
// reading it: who holds it).
func (c *Client) NewLock(name string, ttl time.Duration, value []byte) *Lock {
	return &Lock{c: c, key: LockPrefix + name, ttl: ttl, value: value, lost: make(chan struct{})}
}

// Key returns the lock's key.
func (l *Lock) Key() string { return l.key }

// Acquire grants the lease, starts renewing it, and waits (with blocking
// reads, not polling) until the lock is this holder's; it returns the
// fencing index. It fails when ctx ends first or the lease is lost while
// waiting; the lease is then revoked.
func (l *Lock) Acquire(ctx context.Context) (uint64, error) {
	sent := time.Now()
	info, err := l.c.LeaseGrant(ctx, l.ttl)
	if err != nil {
		return 0, fmt.Errorf("granting the lock's lease: %w", err)
	}
	rctx, stop := context.WithCancel(context.Background())
	l.mu.Lock()
	l.lease, l.lastAck, l.stop, l.renewed = info.ID, sent, stop, make(chan struct{})
	l.mu.Unlock()
	go l.renewLoop(rctx)
	index, err := l.take(ctx)
	if err != nil {
		_ = l.Release(context.Background())
		return 0, err
	}
	l.mu.Lock()
	l.index = index
	l.mu.Unlock()
	return index, nil
}

// take puts the key with cas=0 on the lease until it succeeds, waiting for
// the holder's key to change between attempts.
func (l *Lock) take(ctx context.Context) (uint64, error) {
	opts := &PutOptions{CAS: Index(0), Lease: l.Lease()}
	var index uint64
	for {
		res, err := l.c.KVPut(ctx, l.key, l.value, opts)
		switch {
		case err == nil:
			return res.Index, nil
		case !errors.Is(err, ErrCASFailed):
			return 0, fmt.Errorf("taking the lock: %w", err)
		}
		_, meta, err := l.c.KVGet(ctx, l.key, &QueryOptions{WaitIndex: index, WaitTime: l.ttl})
		if err != nil && !errors.Is(err, ErrNotFound) {
			return 0, fmt.Errorf("waiting for the lock: %w", err)
		}
		select {
		case <-l.lost:
			return 0, ErrLockLost
		case <-ctx.Done():
			return 0, ctx.Err()
		default:
		}
		index = meta.Index
	}
}

// renewLoop renews the lease every TTL/3 until ctx ends or the lease is
// gone.
func (l *Lock) renewLoop(ctx context.Context) {
	defer close(l.renewed)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		_, err := l.c.LeaseRenew(ctx, l.Lease())
		switch {
		case err == nil:
			l.mu.Lock()
			l.lastAck = sent
			l.mu.Unlock()
		case errors.Is(err, ErrNotFound):
			l.once.Do(func() { close(l.lost) })
			return
		case ctx.Err() == nil && l.OnRenewError != nil:
			l.OnRenewError(err)
		}
	}
}

// Lease returns the lock's lease ID ("" before Acquire).
func (l *Lock) Lease() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lease
}

// Index returns the fencing index of the hold (0 before it is held).
func (l *Lock) Index() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.index
}

// LastAck returns the send time of the last acknowledged grant or renew:
// the lease lives at least TTL after it.
func (l *Lock) LastAck() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastAck
}

// TTL returns the lease's TTL.
func (l *Lock) TTL() time.Duration { return l.ttl }

// SafeUntil returns the moment until which this holder certainly still
// holds the lock: TTL after the last acknowledged renew, less margin (the
// holder's own clock may run slow against the leader's). Work done under
// the lock must stop by then unless a renew moves it.
func (l *Lock) SafeUntil(margin time.Duration) time.Time {
	return l.LastAck().Add(l.ttl - margin)
}

// Lost is closed once the lease is known to be gone (a renew answered
// 404). A lease can also run out unseen, during a partition: check
// SafeUntil too.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// Release stops renewing and revokes the lease, which deletes the lock key
// at once. If the revoke fails, the lock frees itself within the TTL.
func (l *Lock) Release(ctx context.Context) error {
	l.mu.Lock()
	stop, renewed, lease := l.stop, l.renewed, l.lease
	l.mu.Unlock()
	if stop == nil {
		return nil
	}
	stop()
	<-renewed
	if _, err := l.c.LeaseRevoke(ctx, lease); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("releasing the lock (it frees itself within %s): %w", l.ttl, err)
	}
	return nil
}

// Elect runs lead each time this client wins the election name, until ctx
// ends: it campaigns (Acquire), runs lead with a context that ends when
// leadership may be lost (the lease is gone, or SafeUntil with a margin of
// TTL/10 passes without a renew), then releases and campaigns again. lead
// gets the fencing index of its term. Elect returns ctx's error, or the
// first error that is not about losing the lock.
func (c *Client) Elect(ctx context.Context, name string, ttl time.Duration, value []byte, lead func(ctx context.Context, index uint64)) error {
	for ctx.Err() == nil {
		l := c.NewLock(name, ttl, value)
		index, err := l.Acquire(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, ErrLockLost):
			continue
		case err != nil:
			return err
		}
		termCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); l.watchTerm(termCtx, cancel, ttl/10) }()
		lead(termCtx, index)
		cancel()
		<-done
		rctx, rcancel := context.WithTimeout(context.Background(), ttl)
		_ = l.Release(rctx)
		rcancel()
	}
	return ctx.Err()
}

// watchTerm calls cancel once the lock is lost or may be (SafeUntil with
// margin passed), or ctx ends.
func (l *Lock) watchTerm(ctx context.Context, cancel context.CancelFunc, margin time.Duration) {
	defer cancel()
	for {
		wait := time.Until(l.SafeUntil(margin))
		if wait <= 0 {
			return
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-l.lost:
			timer.Stop()
			return
		case <-timer.C:
			// A renew may have moved SafeUntil meanwhile: look again.
		}
	}
}
