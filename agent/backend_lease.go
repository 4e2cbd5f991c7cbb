package agent

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/agent/kv"
)

// leaseNotFound is the error for a lease that does not exist (never
// granted, revoked, or expired).
func leaseNotFound(id uint64) error {
	return fmt.Errorf("%w: lease %d (never granted, revoked, or expired)", httpapi.ErrNotFound, id)
}

func (b backend) LeaseGrant(ctx context.Context, ttl time.Duration) (httpapi.LeaseInfo, error) {
	m, err := kv.LeaseGrantMutation(ttl)
	if err != nil {
		return httpapi.LeaseInfo{}, fmt.Errorf("%w: %v", httpapi.ErrBadRequest, err)
	}
	w, err := b.a.kvWrite(ctx, m)
	if err != nil {
		return httpapi.LeaseInfo{}, err
	}
	return httpapi.LeaseInfo{ID: strconv.FormatUint(w.Index, 10), TTL: ttl.String()}, nil
}

// LeaseRenew renews on the leader only, without the log (see leases.go):
// the deadline moves first, then leadership is confirmed with a quorum,
// and only then is the renew acknowledged.
func (b backend) LeaseRenew(ctx context.Context, id uint64) (httpapi.LeaseInfo, error) {
	a := b.a
	if a.kv == nil {
		return httpapi.LeaseInfo{}, errNoKV
	}
	if a.raft == nil || !a.raft.IsLeader() {
		return httpapi.LeaseInfo{}, httpapi.ErrNotLeader
	}
	l, ok := a.kv.View().Lease(id)
	if !ok {
		return httpapi.LeaseInfo{}, leaseNotFound(id)
	}
	active, ok := a.leases.renew(id, l.TTL, time.Now())
	switch {
	case !active:
		return httpapi.LeaseInfo{}, httpapi.ErrNotLeader // duties not started yet: wait, or forward
	case !ok:
		return httpapi.LeaseInfo{}, leaseNotFound(id)
	}
	rctx, cancel := context.WithTimeout(ctx, a.cfg.HTTP.LeaderWait)
	defer cancel()
	if err := a.raft.LinearizableRead(rctx); err != nil {
		return httpapi.LeaseInfo{}, a.mapWriteErr(err, "renew")
	}
	return httpapi.LeaseInfo{ID: strconv.FormatUint(id, 10), TTL: l.TTL.String()}, nil
}

func (b backend) LeaseRevoke(ctx context.Context, id uint64) (httpapi.KVWrite, error) {
	w, err := b.a.kvWrite(ctx, kv.LeaseRevokeMutation(id))
	if err == nil && !w.OK {
		return w, leaseNotFound(id)
	}
	return w, err
}

// LeaseShow answers on the leader, whose clock decides expiry, after the
// reads' leadership check.
func (b backend) LeaseShow(ctx context.Context, id uint64) (httpapi.LeaseDetail, error) {
	a := b.a
	if _, err := a.prepareRead(ctx, false); err != nil {
		return httpapi.LeaseDetail{}, err
	}
	l, ok := a.kv.View().Lease(id)
	if !ok {
		return httpapi.LeaseDetail{}, leaseNotFound(id)
	}
	rem, active := a.leases.remaining(id, l.TTL, time.Now())
	if !active {
		return httpapi.LeaseDetail{}, httpapi.ErrNotLeader
	}
	return httpapi.LeaseDetail{ID: strconv.FormatUint(id, 10), TTL: l.TTL.String(),
		Remaining: rem.Round(time.Millisecond).String(), Keys: l.Keys}, nil
}

func (b backend) KVPutLease(ctx context.Context, key string, value []byte, cas *uint64, lease uint64) (httpapi.KVWrite, error) {
	a := b.a
	if err := a.checkKey(key); err != nil {
		return httpapi.KVWrite{}, err
	}
	if err := kv.ValidateValue(value, a.kvLimits()); err != nil {
		return httpapi.KVWrite{}, fmt.Errorf("%w: %v", httpapi.ErrTooLarge, err)
	}
	m, err := kv.PutLeaseMutation(key, value, cas, lease)
	if err != nil {
		return httpapi.KVWrite{}, fmt.Errorf("%w: %v", httpapi.ErrBadRequest, err)
	}
	return a.kvWrite(ctx, m)
}
