package chaos

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
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
		base := t.cluster.URL(list[rng.IntN(len(list))])
		key := KeyPrefix + "k" + strconv.Itoa(rng.IntN(t.cfg.Keys))
		switch p := rng.IntN(100); {
		case p < 45:
			t.get(ctx, hc, id, base, key, lastIndex)
		case p < 70:
			t.put(ctx, hc, id, base, key, fmt.Sprintf("c%d-%d", id, seq), nil)
		case p < 90:
			cas := lastIndex[key]
			t.put(ctx, hc, id, base, key, fmt.Sprintf("c%d-%d", id, seq), &cas)
		default:
			var cas *uint64
			if rng.IntN(2) == 0 {
				c := lastIndex[key]
				cas = &c
			}
			t.del(ctx, hc, id, base, key, cas)
		}
	}
}

// entry is GET /v1/kv/{key}'s answer.
type entry struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	CreateIndex uint64 `json:"create_index"`
	ModifyIndex uint64 `json:"modify_index"`
}

// writeAnswer is PUT's and DELETE's answer.
type writeAnswer struct {
	OK    bool   `json:"ok"`
	Index uint64 `json:"index"`
}

func (t *traffic) get(ctx context.Context, hc *http.Client, id int, base, key string, last map[string]uint64) {
	p := t.rec.BeginGet(id, key)
	code, body, err := do(ctx, hc, http.MethodGet, base+"/v1/kv/"+key, nil)
	modify, ok := recordGet(p, code, body, err)
	if !ok {
		t.counts.failed.Add(1)
		return
	}
	last[key] = modify
	t.counts.ok.Add(1)
}

// recordGet ends p with a GET's answer: the entry (200), not found (404),
// or failed (anything else says nothing about the store). It returns the
// entry's modify index (0 when not found) and whether the read counts.
func recordGet(p *linearize.PendingGet, code int, body []byte, err error) (modify uint64, ok bool) {
	switch {
	case err != nil || (code != http.StatusOK && code != http.StatusNotFound):
		p.Failed()
		return 0, false
	case code == http.StatusNotFound:
		p.Done(linearize.GetResult{})
		return 0, true
	}
	var e entry
	val, derr := decodeEntry(body, &e)
	if derr != nil {
		p.Failed()
		return 0, false
	}
	p.Done(linearize.GetResult{Found: true, Value: val, CreateIndex: e.CreateIndex, ModifyIndex: e.ModifyIndex})
	return e.ModifyIndex, true
}

func decodeEntry(body []byte, e *entry) (string, error) {
	if err := json.Unmarshal(body, e); err != nil {
		return "", err
	}
	v, err := base64.StdEncoding.DecodeString(e.Value)
	return string(v), err
}

func (t *traffic) put(ctx context.Context, hc *http.Client, id int, base, key, value string, cas *uint64) {
	u := base + "/v1/kv/" + key
	if cas != nil {
		u += "?cas=" + strconv.FormatUint(*cas, 10)
	}
	t.writtenMu.Lock()
	if t.written[key] == nil {
		t.written[key] = map[string]bool{}
	}
	t.written[key][value] = true
	t.writtenMu.Unlock()
	p, sent := t.rec.BeginPut(id, key, value, cas), time.Now()
	code, body, err := do(ctx, hc, http.MethodPut, u, strings.NewReader(value))
	t.finishWrite(p, ack{Key: key, Value: value, Sent: sent}, code, body, err)
}

func (t *traffic) del(ctx context.Context, hc *http.Client, id int, base, key string, cas *uint64) {
	u := base + "/v1/kv/" + key
	if cas != nil {
		u += "?cas=" + strconv.FormatUint(*cas, 10)
	}
	p, sent := t.rec.BeginDelete(id, key, cas), time.Now()
	code, body, err := do(ctx, hc, http.MethodDelete, u, nil)
	t.finishWrite(p, ack{Key: key, Delete: true, Sent: sent}, code, body, err)
}

// finishWrite classifies a write's answer. Only a refused dial or a 4xx
// proves the write was not applied; anything else without a 200 may have
// been (the request may have reached the leader before the error).
func (t *traffic) finishWrite(p *linearize.PendingWrite, w ack, code int, body []byte, err error) {
	a, fate := recordWrite(p, code, body, err)
	switch fate {
	case writeFailed:
		t.counts.failed.Add(1)
	case writeUnknown:
		t.counts.unknown.Add(1)
	default:
		t.counts.ok.Add(1)
		if a.OK {
			w.Index, w.At = a.Index, time.Now()
			t.acked.add(w)
		}
	}
}

// writeFate is what a client can tell about a write from its answer.
type writeFate int

const (
	writeAnswered writeFate = iota // {"ok","index"}
	writeFailed                    // certainly not applied
	writeUnknown                   // may or may not have been applied
)

// recordWrite ends p with a PUT's or DELETE's answer and returns it with
// its fate.
func recordWrite(p *linearize.PendingWrite, code int, body []byte, err error) (writeAnswer, writeFate) {
	var a writeAnswer
	switch {
	case err != nil && refused(err), err == nil && code >= 400 && code < 500:
		p.Failed()
		return a, writeFailed
	case err != nil || code != http.StatusOK || json.Unmarshal(body, &a) != nil:
		p.Unknown()
		return a, writeUnknown
	}
	p.Done(linearize.WriteResult{OK: a.OK, Index: a.Index})
	return a, writeAnswered
}

// refused reports whether err is a dial that failed before anything was
// sent: the server cannot have seen the request.
func refused(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return false
}

// do sends one request and reads the whole answer (bounded).
func do(ctx context.Context, hc *http.Client, method, u string, body io.Reader) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}
