package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	agentapi "github.com/clusteragent/agent/api"
)

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

// putKV PUTs val and succeeds only once the write is acknowledged.
func putKV(addr, key, val string) error {
	c, err := agentAPI(addr)
	if err != nil {
		return err
	}
	if _, err := c.KVPut(context.Background(), key, []byte(val), nil); err != nil {
		return fmt.Errorf("PUT %s on %s: %w", key, addr, err)
	}
	return nil
}

// getKV reads key: linearizable (through the leader) unless stale, which
// reads the answering node's own copy. A missing key is found == false
// with no error; err is for answers worth retrying.
func getKV(addr, key string, stale bool) (val string, found bool, err error) {
	c, err := agentAPI(addr)
	if err != nil {
		return "", false, err
	}
	e, _, err := c.KVGet(context.Background(), key, &agentapi.QueryOptions{Stale: stale})
	switch {
	case errors.Is(err, agentapi.ErrNotFound):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("GET %s on %s: %w", key, addr, err)
	}
	return string(e.Value), true, nil
}

// getStatus is the agent's GET /v1/status.
func getStatus(addr string) (agentapi.Status, error) {
	c, err := agentAPI(addr)
	if err != nil {
		return agentapi.Status{}, err
	}
	st, err := c.Status(context.Background())
	if err != nil {
		return st, fmt.Errorf("GET /v1/status on %s: %w", addr, err)
	}
	return st, nil
}
