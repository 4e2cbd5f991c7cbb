package httpapi

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// fakeKV is the key/value part of fakeBackend: a map with the contract's
// index and compare-and-set rules, enough to test the HTTP layer.
type fakeKV struct {
	entries map[string]KVEntry
	index   uint64
	writes  int
}

func (f *fakeBackend) kvLocked() *fakeKV {
	if f.kv == nil {
		f.kv = &fakeKV{entries: map[string]KVEntry{}}
	}
	return f.kv
}

func (f *fakeBackend) kvCheck(stale bool) (ReadMeta, error) {
	meta := ReadMeta{Index: f.kvLocked().index, KnownLeader: f.leader || f.leaderAddr != "", Stale: stale}
	if f.err != nil {
		return meta, f.err
	}
	if !stale && !f.leader {
		return meta, ErrNotLeader
	}
	return meta, nil
}

func (f *fakeBackend) KVGet(_ context.Context, key string, stale bool) (KVEntry, ReadMeta, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	meta, err := f.kvCheck(stale)
	if err != nil {
		return KVEntry{}, meta, err
	}
	e, ok := f.kvLocked().entries[key]
	if !ok {
		return KVEntry{}, meta, fmt.Errorf("%w: key %q", ErrNotFound, key)
	}
	return e, meta, nil
}

func (f *fakeBackend) KVList(_ context.Context, prefix string, stale bool) ([]KVEntry, ReadMeta, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	meta, err := f.kvCheck(stale)
	if err != nil {
		return nil, meta, err
	}
	var out []KVEntry
	for k, e := range f.kvLocked().entries {
		if strings.HasPrefix(k, prefix) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, meta, nil
}

func (f *fakeBackend) KVPut(_ context.Context, key string, value []byte, cas *uint64) (KVWrite, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.kvCheck(false); err != nil {
		return KVWrite{}, err
	}
	if strings.Contains(key, "..") {
		return KVWrite{}, fmt.Errorf("%w: key %q has a '..' segment", ErrBadRequest, key)
	}
	kv := f.kvLocked()
	kv.index++
	kv.writes++
	old, exists := kv.entries[key]
	if cas != nil && ((*cas == 0 && exists) || (*cas != 0 && (!exists || old.ModifyIndex != *cas))) {
		return KVWrite{OK: false, Index: kv.index}, nil
	}
	e := KVEntry{Key: key, Value: append([]byte(nil), value...), CreateIndex: kv.index, ModifyIndex: kv.index}
	if exists {
		e.CreateIndex = old.CreateIndex
	}
	kv.entries[key] = e
	return KVWrite{OK: true, Index: kv.index}, nil
}

func (f *fakeBackend) KVDelete(_ context.Context, key string, cas *uint64) (KVWrite, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.kvCheck(false); err != nil {
		return KVWrite{}, err
	}
	kv := f.kvLocked()
	kv.index++
	kv.writes++
	old, exists := kv.entries[key]
	if cas != nil && *cas != 0 && (!exists || old.ModifyIndex != *cas) {
		return KVWrite{OK: false, Index: kv.index}, nil
	}
	delete(kv.entries, key)
	return KVWrite{OK: true, Index: kv.index}, nil
}

// KVGetBlocking answers at once: the fake has no watches; the blocking
// behaviour is tested against the real store (agent, kv).
func (f *fakeBackend) KVGetBlocking(ctx context.Context, key string, stale bool, q BlockingQuery) (KVEntry, ReadMeta, error) {
	e, meta, err := f.KVGet(ctx, key, stale)
	meta.Index = max(meta.Index, 1)
	return e, meta, err
}

func (f *fakeBackend) KVListBlocking(ctx context.Context, prefix string, stale bool, q BlockingQuery) ([]KVEntry, ReadMeta, error) {
	out, meta, err := f.KVList(ctx, prefix, stale)
	meta.Index = max(meta.Index, 1)
	return out, meta, err
}

// The fake has no leases: lease calls answer not found; the lease
// behaviour is tested against real agents (agent package).
func (f *fakeBackend) KVPutLease(context.Context, string, []byte, *uint64, uint64) (KVWrite, error) {
	return KVWrite{}, fmt.Errorf("%w: lease", ErrNotFound)
}

func (f *fakeBackend) LeaseGrant(_ context.Context, ttl time.Duration) (LeaseInfo, error) {
	return LeaseInfo{ID: "1", TTL: ttl.String()}, nil
}

func (f *fakeBackend) LeaseRenew(context.Context, uint64) (LeaseInfo, error) {
	return LeaseInfo{}, fmt.Errorf("%w: lease", ErrNotFound)
}

func (f *fakeBackend) LeaseRevoke(context.Context, uint64) (KVWrite, error) {
	return KVWrite{}, fmt.Errorf("%w: lease", ErrNotFound)
}

func (f *fakeBackend) LeaseShow(context.Context, uint64) (LeaseDetail, error) {
	return LeaseDetail{}, fmt.Errorf("%w: lease", ErrNotFound)
}
