package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/agent/kv"
	"github.com/clusteragent/agent/raftnode"
)

// errNoKV: the agent runs a state machine other than the key/value store.
var errNoKV = fmt.Errorf("%w: this agent runs a custom state machine; the key/value API is off", httpapi.ErrBadRequest)

func (b backend) KVGet(ctx context.Context, key string, stale bool) (httpapi.KVEntry, httpapi.ReadMeta, error) {
	meta, err := b.a.prepareRead(ctx, stale)
	if err != nil {
		return httpapi.KVEntry{}, meta, err
	}
	if err := b.a.checkKey(key); err != nil {
		return httpapi.KVEntry{}, meta, err
	}
	e, ok := b.a.kv.Get(key)
	if !ok {
		return httpapi.KVEntry{}, meta, fmt.Errorf("%w: key %q not found", httpapi.ErrNotFound, key)
	}
	return toAPIEntry(e), meta, nil
}

func (b backend) KVList(ctx context.Context, prefix string, stale bool) ([]httpapi.KVEntry, httpapi.ReadMeta, error) {
	meta, err := b.a.prepareRead(ctx, stale)
	if err != nil {
		return nil, meta, err
	}
	entries := b.a.kv.List(prefix)
	out := make([]httpapi.KVEntry, len(entries))
	for i, e := range entries {
		out[i] = toAPIEntry(e)
	}
	return out, meta, nil
}

func (b backend) KVPut(ctx context.Context, key string, value []byte, cas *uint64) (httpapi.KVWrite, error) {
	a := b.a
	if err := a.checkKey(key); err != nil {
		return httpapi.KVWrite{}, err
	}
	if err := kv.ValidateValue(value, a.kvLimits()); err != nil {
		return httpapi.KVWrite{}, fmt.Errorf("%w: %v", httpapi.ErrTooLarge, err)
	}
	m, err := kv.PutMutation(key, value, cas)
	if err != nil {
		return httpapi.KVWrite{}, fmt.Errorf("%w: %v", httpapi.ErrBadRequest, err)
	}
	return a.kvWrite(ctx, m)
}

func (b backend) KVDelete(ctx context.Context, key string, cas *uint64) (httpapi.KVWrite, error) {
	a := b.a
	if err := a.checkKey(key); err != nil {
		return httpapi.KVWrite{}, err
	}
	m, err := kv.DeleteMutation(key, cas)
	if err != nil {
		return httpapi.KVWrite{}, fmt.Errorf("%w: %v", httpapi.ErrBadRequest, err)
	}
	return a.kvWrite(ctx, m)
}

// prepareRead makes a read linearizable unless it is stale: leadership is
// verified and the local state machine has applied everything committed at
// that moment, so the answer reflects every write acknowledged before the
// read began. On a follower it returns ErrNotLeader and the HTTP layer
// forwards the read to the leader.
func (a *Agent) prepareRead(ctx context.Context, stale bool) (httpapi.ReadMeta, error) {
	if a.kv == nil {
		return httpapi.ReadMeta{}, errNoKV
	}
	if a.raft == nil {
		if stale {
			return httpapi.ReadMeta{}, fmt.Errorf("%w: a gossip-only member holds no data; drop ?stale to read through a server", httpapi.ErrBadRequest)
		}
		return httpapi.ReadMeta{}, httpapi.ErrNotLeader
	}
	if !stale {
		if !a.raft.IsLeader() {
			return a.readMeta(false), httpapi.ErrNotLeader
		}
		rctx, cancel := context.WithTimeout(ctx, a.cfg.HTTP.LeaderWait)
		defer cancel()
		if err := a.raft.LinearizableRead(rctx); err != nil {
			return a.readMeta(false), a.mapWriteErr(err, "read")
		}
	}
	return a.readMeta(stale), nil
}

// readMeta runs on every read, so it uses the cheap accessors rather than
// Status (whose raft.Stats call queues behind raft's main loop). The index
// is the store's, not raft's: raft's applied index also counts entries the
// store never sees (a new leader's no-op, configuration changes), and a
// client passing such an index back to a blocking read would be taken for
// one from before a restore and answered at once, again and again. It is
// never 0, which asks for no wait (see kv.WakeIndex).
func (a *Agent) readMeta(stale bool) httpapi.ReadMeta {
	r := a.raft
	return httpapi.ReadMeta{Index: max(a.kv.AppliedIndex(), 1), KnownLeader: r.LeaderID() != "", LastContact: r.LastContact(), Stale: stale}
}

// kvWrite proposes m on the leader and waits until it is committed and
// applied, bounded by http.leader_wait.
func (a *Agent) kvWrite(ctx context.Context, m raftnode.Mutation) (httpapi.KVWrite, error) {
	if a.kv == nil {
		return httpapi.KVWrite{}, errNoKV
	}
	if a.raft == nil || !a.raft.IsLeader() {
		return httpapi.KVWrite{}, httpapi.ErrNotLeader
	}
	data, err := m.Encode()
	if err != nil {
		return httpapi.KVWrite{}, fmt.Errorf("%w: %v", httpapi.ErrBadRequest, err)
	}
	if err := a.checkFeatures(ctx, m); err != nil {
		return httpapi.KVWrite{}, err
	}
	if w, acked := a.biteEarlyAck(m, data); acked {
		return w, nil
	}
	wctx, cancel := context.WithTimeout(ctx, a.cfg.HTTP.LeaderWait)
	defer cancel()
	res, err := a.raft.Propose(wctx, data)
	if err != nil {
		return httpapi.KVWrite{}, a.mapWriteErr(err, "write")
	}
	switch r := res.Response.(type) {
	case kv.Result:
		return httpapi.KVWrite{OK: r.OK, Index: r.Index}, nil
	case error:
		if errors.Is(r, kv.ErrLeaseNotFound) {
			return httpapi.KVWrite{}, fmt.Errorf("%w: %v", httpapi.ErrNotFound, r)
		}
		return httpapi.KVWrite{}, fmt.Errorf("%w: %v", httpapi.ErrBadRequest, r)
	}
	return httpapi.KVWrite{}, fmt.Errorf("unexpected state machine response %T", res.Response)
}

// mapWriteErr turns Raft errors into the API's: lost leadership is
// forwarded by the HTTP layer; a timeout is a 503 that says the outcome of
// a write is unknown (it may still commit), which is the truth.
func (a *Agent) mapWriteErr(err error, what string) error {
	switch {
	case errors.Is(err, raftnode.ErrNotLeader):
		return httpapi.ErrNotLeader
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %s not confirmed by a quorum within %s; a write may still commit", httpapi.ErrUnavailable, what, a.cfg.HTTP.LeaderWait)
	}
	return mapRaftErr(err)
}

func (a *Agent) checkKey(key string) error {
	if err := kv.ValidateKey(key, a.kvLimits()); err != nil {
		return fmt.Errorf("%w: %v", httpapi.ErrBadRequest, err)
	}
	return nil
}

// storeLimits are the limits the state machine enforces in Apply. They must
// be the same on every server, whatever each one's configuration says, or a
// write one replica accepts could be refused by another and the replicas
// would diverge for good. So Apply enforces the widest value limit any
// configuration allows, and the configured kv.max_value_bytes is enforced
// before proposing (kvLimits).
func storeLimits() kv.Limits {
	l := kv.DefaultLimits()
	l.MaxValueBytes = MaxValueLimit
	return l
}

// kvLimits are this agent's configured limits, checked on the write path.
func (a *Agent) kvLimits() kv.Limits {
	l := kv.DefaultLimits()
	l.MaxValueBytes = a.cfg.KV.MaxValueBytes
	return l
}

func toAPIEntry(e kv.Entry) httpapi.KVEntry {
	return httpapi.KVEntry{Key: e.Key, Value: e.Value, CreateIndex: e.CreateIndex, ModifyIndex: e.ModifyIndex}
}

// KVGetBlocking serves a blocking read of one key: linearizable (on the
// leader, after confirming leadership, then waiting on the local store,
// which keeps up with every commit) or stale (waiting on this server's own
// copy). A leader that loses leadership while a read waits answers from
// its copy at the end, as any stale read would; the index it gives lets
// the client's next read (on the new leader) pick up anything it missed.
func (b backend) KVGetBlocking(ctx context.Context, key string, stale bool, q httpapi.BlockingQuery) (httpapi.KVEntry, httpapi.ReadMeta, error) {
	if err := b.a.checkKey(key); err != nil {
		return httpapi.KVEntry{}, httpapi.ReadMeta{}, err
	}
	v, meta, err := b.a.blockingRead(ctx, kv.Target{Key: key}, stale, q)
	if err != nil {
		return httpapi.KVEntry{}, meta, err
	}
	e, ok := v.Get(key)
	if !ok {
		return httpapi.KVEntry{}, meta, fmt.Errorf("%w: key %q not found", httpapi.ErrNotFound, key)
	}
	return toAPIEntry(e), meta, nil
}

// KVListBlocking serves a blocking read of everything under prefix; see
// KVGetBlocking.
func (b backend) KVListBlocking(ctx context.Context, prefix string, stale bool, q httpapi.BlockingQuery) ([]httpapi.KVEntry, httpapi.ReadMeta, error) {
	v, meta, err := b.a.blockingRead(ctx, kv.Target{Key: prefix, Prefix: true}, stale, q)
	if err != nil {
		return nil, meta, err
	}
	entries := v.List(prefix)
	out := make([]httpapi.KVEntry, len(entries))
	for i, e := range entries {
		out[i] = toAPIEntry(e)
	}
	return out, meta, nil
}

// blockingRead prepares the read as KVGet does, then waits for a change of
// t after q.Index for at most q.Wait. The answer's index is the target's
// change index (see kv.WakeIndex), not the applied index a plain read
// reports, so a client passing it back wakes only for the target.
func (a *Agent) blockingRead(ctx context.Context, t kv.Target, stale bool, q httpapi.BlockingQuery) (kv.View, httpapi.ReadMeta, error) {
	meta, err := a.prepareRead(ctx, stale)
	if err != nil {
		return kv.View{}, meta, err
	}
	wctx, cancel := context.WithTimeout(ctx, q.Wait)
	defer cancel()
	v, idx := a.kv.Wait(wctx, t, q.Index, !stale)
	meta = a.readMeta(stale)
	meta.Index = idx
	return v, meta, nil
}
