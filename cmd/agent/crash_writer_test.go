package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// kvClient is the HTTP client of the crash tests: every request is bounded.
var kvClient = &http.Client{Timeout: 3 * time.Second}

// putRecord is one PUT and what the writer knows of its outcome.
type putRecord struct {
	val   string
	acked bool // 200 with ok: committed
}

// kvWriter drives bounded PUT /v1/kv/... load and records, per key, every
// write in the order it was issued. Each key has one writer goroutine, so
// per key the issue order is the commit order of the acknowledged writes.
type kvWriter struct {
	mu      sync.Mutex
	history map[string][]putRecord
	ackedAt []time.Time // when each acknowledged write returned, in order
	acked   atomic.Int64
	failed  atomic.Int64
	lastErr atomic.Value // string
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

// failPause spaces a writer's next PUT after a failed one, so a failover
// does not burn the count budget in a tight loop of refused requests.
const failPause = 20 * time.Millisecond

// startKVWriter starts `writers` goroutines that each PUT to keys of their
// own under prefix, round-robin over targets (HTTP addresses), until each
// has issued maxPerWriter writes, until is reached, or Stop.
func startKVWriter(prefix string, targets []string, writers, maxPerWriter int, until time.Time) *kvWriter {
	w := &kvWriter{history: map[string][]putRecord{}, stop: make(chan struct{})}
	for g := 0; g < writers; g++ {
		w.wg.Add(1)
		go func(g int) {
			defer w.wg.Done()
			for seq := 0; seq < maxPerWriter && time.Now().Before(until); seq++ {
				select {
				case <-w.stop:
					return
				default:
				}
				key := fmt.Sprintf("%s/w%d/k%d", prefix, g, seq%25)
				val := fmt.Sprintf("w%d-%d", g, seq)
				err := putKV(targets[(g+seq)%len(targets)], key, val)
				w.record(key, val, err)
				if err != nil {
					select {
					case <-w.stop:
						return
					case <-time.After(failPause):
					}
				}
			}
		}(g)
	}
	return w
}

func (w *kvWriter) record(key, val string, err error) {
	w.mu.Lock()
	w.history[key] = append(w.history[key], putRecord{val: val, acked: err == nil})
	if err == nil {
		w.ackedAt = append(w.ackedAt, time.Now())
	}
	w.mu.Unlock()
	if err != nil {
		w.failed.Add(1)
		w.lastErr.Store(err.Error())
		return
	}
	w.acked.Add(1)
}

// Stop ends the load and waits for in-flight writes to return. It may be
// called more than once.
func (w *kvWriter) Stop() {
	w.once.Do(func() { close(w.stop) })
	w.wg.Wait()
}

// check reports whether got is a value key may hold: its last acknowledged
// value, or that of a later write whose outcome is unknown (a failed or
// timed-out PUT may still have committed). ok is false when key has no
// acknowledged write, so there is nothing to check.
func (w *kvWriter) check(key, got string) (ok bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.history[key]
	last := -1
	for i, wr := range h {
		if wr.acked {
			last = i
		}
	}
	if last < 0 {
		return false, nil
	}
	for _, wr := range h[last:] {
		if wr.val == got {
			return true, nil
		}
	}
	return true, fmt.Errorf("%s = %q, want the last acknowledged %q (or a later unacknowledged write)", key, got, h[last].val)
}

// longestGap is the longest stretch between from and to with no
// acknowledged write.
func (w *kvWriter) longestGap(from, to time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	longest, prev := time.Duration(0), from
	for _, at := range w.ackedAt {
		if at.Before(from) || at.After(to) {
			continue
		}
		longest, prev = max(longest, at.Sub(prev)), at
	}
	return max(longest, to.Sub(prev))
}

// keys returns every key written.
func (w *kvWriter) keys() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.history))
	for k := range w.history {
		out = append(out, k)
	}
	return out
}

// putKV PUTs val and succeeds only on 200 with "ok": true.
func putKV(addr, key, val string) error {
	req, err := http.NewRequest(http.MethodPut, "http://"+addr+"/v1/kv/"+key, bytes.NewBufferString(val))
	if err != nil {
		return err
	}
	resp, err := kvClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var res struct {
		OK bool `json:"ok"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &res) != nil || !res.OK {
		return fmt.Errorf("PUT %s on %s: %d %s", key, addr, resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}

// getKV reads key: linearizable (through the leader) unless stale, which
// reads the answering node's own copy. A missing key is found == false
// with no error; err is for answers worth retrying.
func getKV(addr, key string, stale bool) (val string, found bool, err error) {
	u := "http://" + addr + "/v1/kv/" + key
	if stale {
		u += "?stale"
	}
	resp, err := kvClient.Get(u)
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return "", false, nil
	default:
		return "", false, fmt.Errorf("GET %s on %s: %d %s", key, addr, resp.StatusCode, bytes.TrimSpace(body))
	}
	var e struct {
		Value []byte `json:"value"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return "", false, fmt.Errorf("GET %s on %s: %v", key, addr, err)
	}
	return string(e.Value), true, nil
}

// nodeStatus is the part of GET /v1/status the crash tests read.
type nodeStatus struct {
	State        string `json:"state"`
	LeaderID     string `json:"leader_id"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	LastLogIndex uint64 `json:"last_log_index"`
	LogStore     string `json:"log_store"`
}

func getStatus(addr string) (nodeStatus, error) {
	var st nodeStatus
	resp, err := kvClient.Get((&url.URL{Scheme: "http", Host: addr, Path: "/v1/status"}).String())
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /v1/status on %s: %d", addr, resp.StatusCode)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}
