package chaos

import (
	"errors"

	"github.com/clusteragent/agent/api"

	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Watchers: one blocking-read client per traffic key, each always passing
// back the index it got, through a node picked at random each time. Their
// answers are checked against the write history (checkWatches).

// watchWait is the wait each blocking read asks for: short, so that a
// watcher moves between nodes often during a run.
const watchWait = time.Second

// watchObs is one answer a watcher got.
type watchObs struct {
	Sent, At time.Time
	// Asked is the index the watcher passed; Index the X-Agent-Index it got.
	Asked, Index uint64
	Found        bool
	Value        string
	Modify       uint64
}

// watchers records what every watcher saw, by key.
type watchers struct {
	mu  sync.Mutex
	obs map[string][]watchObs
}

// runWatchers runs one watcher per key until ctx ends.
func runWatchers(ctx context.Context, c Cluster, keys int, timeout time.Duration, seed uint64, nodes func() []string) *watchers {
	w := &watchers{obs: map[string][]watchObs{}}
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.watch(ctx, c, KeyPrefix+"k"+strconv.Itoa(i), timeout, rand.New(rand.NewPCG(seed, 0x77a7c4+uint64(i))), nodes)
		}()
	}
	wg.Wait()
	return w
}

func (w *watchers) watch(ctx context.Context, c Cluster, key string, timeout time.Duration, rng *rand.Rand, nodes func() []string) {
	hc := &http.Client{Timeout: watchWait + timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true}}
	defer hc.CloseIdleConnections()
	clients := apiClients{hc: hc, byURL: map[string]*api.Client{}}
	var index uint64
	for ctx.Err() == nil {
		list := nodes()
		if len(list) == 0 {
			sleepCtx(ctx, 50*time.Millisecond)
			continue
		}
		cl, err := clients.get(c.URL(list[rng.IntN(len(list))]))
		if err != nil {
			return // the cluster hands out URLs the client cannot use: nothing to watch
		}
		o, ok := blockingGet(ctx, cl, key, index)
		if !ok {
			sleepCtx(ctx, 50*time.Millisecond) // poll interval after a failed read
			continue
		}
		o.Asked = index
		w.mu.Lock()
		w.obs[key] = append(w.obs[key], o)
		w.mu.Unlock()
		index = o.Index
	}
}

// blockingGet sends one blocking read; ok is false unless it answered 200
// or 404 with an index.
func blockingGet(ctx context.Context, c *api.Client, key string, index uint64) (watchObs, bool) {
	o := watchObs{Sent: time.Now()}
	e, meta, err := c.KVGet(ctx, key, &api.QueryOptions{WaitIndex: index, WaitTime: watchWait})
	o.At = time.Now()
	if (err != nil && !errors.Is(err, api.ErrNotFound)) || meta.Index == 0 {
		return o, false
	}
	o.Index = meta.Index
	if err == nil {
		o.Found, o.Value, o.Modify = true, string(e.Value), e.ModifyIndex
	}
	return o, true
}

// all returns the observations by key.
func (w *watchers) all() map[string][]watchObs {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string][]watchObs, len(w.obs))
	for k, v := range w.obs {
		out[k] = append([]watchObs(nil), v...)
	}
	return out
}

// checkWatches checks every watcher's answers against the write history:
// acks are the acknowledged writes, written every value any put tried per
// key (acknowledged or not). Every answer must be a state the key really
// passed through (a value some put wrote, at the index an acknowledged put
// of it got; absent only at an index no acknowledged put of the key has),
// never older than one the watcher already saw (indexes never go back; an
// index seen again shows the same state), and never miss a change: an
// answer to a read sent after a put of the key was acknowledged carries
// an index at or above that put's.
func checkWatches(obs map[string][]watchObs, acks []ack, written map[string]map[string]bool) []string {
	byKey := map[string][]ack{}
	for _, a := range acks {
		byKey[a.Key] = append(byKey[a.Key], a)
	}
	keys := make([]string, 0, len(obs))
	for k := range obs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, key := range keys {
		out = append(out, checkWatcher(key, obs[key], byKey[key], written[key])...)
	}
	return out
}

// checkWatcher checks one watcher's answers, in the order it got them.
func checkWatcher(key string, obs []watchObs, acks []ack, written map[string]bool) []string {
	atIndex := map[uint64]ack{}
	for _, a := range acks {
		atIndex[a.Index] = a
	}
	var out []string
	bad := func(i int, format string, args ...any) {
		out = append(out, fmt.Sprintf("watch %s answer %d (index %d, asked %d): ", key, i, obs[i].Index, obs[i].Asked)+fmt.Sprintf(format, args...))
	}
	for i, o := range obs {
		a, acked := atIndex[o.Index]
		switch {
		case o.Found && o.Modify != o.Index:
			bad(i, "modify index %d differs from the index", o.Modify)
		case o.Found && !written[o.Value]:
			bad(i, "value %q was never written to the key", o.Value)
		case o.Found && acked && (a.Delete || a.Value != o.Value):
			bad(i, "shows %q, but the write acknowledged at that index was %s", o.Value, describeAck(a))
		case !o.Found && acked && !a.Delete:
			bad(i, "shows the key absent, but a put was acknowledged at that index")
		}
		if i > 0 {
			p := obs[i-1]
			switch {
			case o.Index < p.Index:
				bad(i, "went back from index %d", p.Index)
			case o.Index == p.Index && (o.Found != p.Found || o.Value != p.Value):
				bad(i, "same index as the answer before, other state (found %v %q, before %v %q)", o.Found, o.Value, p.Found, p.Value)
			}
		}
		// Only puts: a delete of a key already absent is acknowledged
		// but changes nothing, so its index need not show.
		for _, a := range acks {
			if !a.Delete && a.At.Before(o.Sent) && a.Index > o.Index {
				bad(i, "missed the %s acknowledged at index %d before the read was sent", describeAck(a), a.Index)
				break
			}
		}
	}
	return out
}

func describeAck(a ack) string {
	if a.Delete {
		return "delete"
	}
	return fmt.Sprintf("put of %q", a.Value)
}
