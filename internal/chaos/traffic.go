package chaos

import (
	"github.com/clusteragent/agent/api"

	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clusteragent/agent/internal/chaos/linearize"
)

// KeyPrefix is where the suite's keys live; nothing else writes there.
const KeyPrefix = "chaos/"

// trafficConfig shapes the client load.
type trafficConfig struct {
	Clients int
	Keys    int
	// Rate caps each client's operations per second, so a run of a given
	// length yields a history the checker can still search.
	Rate float64
	// Timeout bounds one request; a write that hits it has an unknown fate.
	Timeout time.Duration
	Seed    uint64
}

// traffic runs concurrent KV clients against the cluster's nodes and records
// every operation for the linearizability checker.
type traffic struct {
	cfg     trafficConfig
	cluster Cluster
	rec     *linearize.Recorder

	acked ackLog
	// written holds every value a put tried, by key, for the watch check.
	writtenMu sync.Mutex
	written   map[string]map[string]bool
	counts    struct{ ok, unknown, failed atomic.Int64 }
}

// ack is one acknowledged successful write, for the lost-write invariant.
type ack struct {
	Key    string
	Delete bool
	Value  string
	Index  uint64
	Sent   time.Time // when the request was sent
	At     time.Time // when the answer came
}

// ackLog keeps acknowledged writes and the time of the latest one.
type ackLog struct {
	mu   sync.Mutex
	acks []ack
}

func (l *ackLog) add(a ack) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acks = append(l.acks, a)
}

// firstAfter returns when the first write sent at or after t was
// acknowledged.
func (l *ackLog) firstAfter(t time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var best time.Time
	for _, a := range l.acks {
		if a.Sent.Before(t) {
			continue
		}
		if best.IsZero() || a.At.Before(best) {
			best = a.At
		}
	}
	return best, !best.IsZero()
}

func (l *ackLog) all() []ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ack(nil), l.acks...)
}

func newTraffic(cfg trafficConfig, c Cluster) *traffic {
	return &traffic{cfg: cfg, cluster: c, rec: linearize.NewRecorder(), written: map[string]map[string]bool{}}
}

// run drives the clients until ctx ends.
func (t *traffic) run(ctx context.Context, nodes func() []string) {
	var wg sync.WaitGroup
	for i := 0; i < t.cfg.Clients; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			t.client(ctx, id, nodes)
		}(i)
	}
	wg.Wait()
}

// client is one sequential client: one operation at a time, each through a
// node picked at random from the cluster, as a load balancer would.
func (t *traffic) client(ctx context.Context, id int, nodes func() []string) {
	rng := rand.New(rand.NewPCG(t.cfg.Seed, uint64(id)+1))
	hc := &http.Client{
		Timeout:   t.cfg.Timeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true},
	}
	defer hc.CloseIdleConnections()
	clients := apiClients{hc: hc, byURL: map[string]*api.Client{}}
	lastIndex := map[string]uint64{}
	interval := time.Duration(float64(time.Second) / t.cfg.Rate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		list := nodes()
		if len(list) == 0 {
			continue
		}
		c, err := clients.get(t.cluster.URL(list[rng.IntN(len(list))]))
		if err != nil {
			continue // a node's URL the client cannot parse: nothing to send
		}
		key := KeyPrefix + "k" + strconv.Itoa(rng.IntN(t.cfg.Keys))
		switch p := rng.IntN(100); {
		case p < 45:
			t.get(ctx, c, id, key, lastIndex)
		case p < 70:
			t.put(ctx, c, id, key, fmt.Sprintf("c%d-%d", id, seq), nil)
		case p < 90:
			cas := lastIndex[key]
			t.put(ctx, c, id, key, fmt.Sprintf("c%d-%d", id, seq), &cas)
		default:
			var cas *uint64
			if rng.IntN(2) == 0 {
				c := lastIndex[key]
				cas = &c
			}
			t.del(ctx, c, id, key, cas)
		}
	}
}

// apiClients are one traffic client's API clients, one per node URL, over
// one HTTP client.
type apiClients struct {
	hc    *http.Client
	byURL map[string]*api.Client
}

func (a apiClients) get(base string) (*api.Client, error) {
	if c, ok := a.byURL[base]; ok {
		return c, nil
	}
	c, err := api.NewClient(api.Config{Address: base, HTTPClient: a.hc})
	if err != nil {
		return nil, err
	}
	a.byURL[base] = c
	return c, nil
}

func (t *traffic) get(ctx context.Context, c *api.Client, id int, key string, last map[string]uint64) {
	p := t.rec.BeginGet(id, key)
	e, _, err := c.KVGet(ctx, key, nil)
	modify, ok := recordGet(p, e, err)
	if !ok {
		t.counts.failed.Add(1)
		return
	}
	last[key] = modify
	t.counts.ok.Add(1)
}

// recordGet ends p with a GET's answer: the entry, not found (404), or
// failed (anything else says nothing about the store). It returns the
// entry's modify index (0 when not found) and whether the read counts.
func recordGet(p *linearize.PendingGet, e api.KVEntry, err error) (modify uint64, ok bool) {
	switch {
	case errors.Is(err, api.ErrNotFound):
		p.Done(linearize.GetResult{})
		return 0, true
	case err != nil:
		p.Failed()
		return 0, false
	}
	p.Done(linearize.GetResult{Found: true, Value: string(e.Value), CreateIndex: e.CreateIndex, ModifyIndex: e.ModifyIndex})
	return e.ModifyIndex, true
}

func (t *traffic) put(ctx context.Context, c *api.Client, id int, key, value string, cas *uint64) {
	t.writtenMu.Lock()
	if t.written[key] == nil {
		t.written[key] = map[string]bool{}
	}
	t.written[key][value] = true
	t.writtenMu.Unlock()
	p, sent := t.rec.BeginPut(id, key, value, cas), time.Now()
	res, err := c.KVPut(ctx, key, []byte(value), &api.PutOptions{CAS: cas})
	t.finishWrite(p, ack{Key: key, Value: value, Sent: sent}, res, err)
}

func (t *traffic) del(ctx context.Context, c *api.Client, id int, key string, cas *uint64) {
	p, sent := t.rec.BeginDelete(id, key, cas), time.Now()
	res, err := c.KVDelete(ctx, key, &api.PutOptions{CAS: cas})
	t.finishWrite(p, ack{Key: key, Delete: true, Sent: sent}, res, err)
}

// finishWrite classifies a write's answer. Only a refused dial or a 4xx
// proves the write was not applied; anything else without a 200 may have
// been (the request may have reached the leader before the error).
func (t *traffic) finishWrite(p *linearize.PendingWrite, w ack, res api.KVWrite, err error) {
	switch recordWrite(p, res, err) {
	case writeFailed:
		t.counts.failed.Add(1)
	case writeUnknown:
		t.counts.unknown.Add(1)
	default:
		t.counts.ok.Add(1)
		if res.OK {
			w.Index, w.At = res.Index, time.Now()
			t.acked.add(w)
		}
	}
}

// writeFate is what a client can tell about a write from its answer.
type writeFate int

const (
	writeAnswered writeFate = iota // {"ok","index"}, a failed compare included
	writeFailed                    // certainly not applied
	writeUnknown                   // may or may not have been applied
)

// recordWrite ends p with a PUT's or DELETE's answer (res, err as the
// Client returned them) and returns its fate. Only a refused dial or a
// 4xx proves the write was not applied.
func recordWrite(p *linearize.PendingWrite, res api.KVWrite, err error) writeFate {
	var se *api.StatusError
	switch {
	case err == nil || errors.Is(err, api.ErrCASFailed):
		p.Done(linearize.WriteResult{OK: res.OK, Index: res.Index})
		return writeAnswered
	case errors.As(err, &se) && se.StatusCode >= 400 && se.StatusCode < 500, refused(err):
		p.Failed()
		return writeFailed
	}
	p.Unknown()
	return writeUnknown
}

// refused reports whether err is a dial that failed, or there was no node
// to dial, before anything was sent: the server cannot have seen the
// request.
func refused(err error) bool {
	var op *net.OpError
	return (errors.As(err, &op) && op.Op == "dial") || errors.Is(err, errNoNode)
}
