package main

import (
	agentapi "github.com/clusteragent/agent/api"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"
)

// Watch retry pacing: after an error (no leader, the agent restarting) the
// watcher tries again after watchBackoffMin, doubling up to watchBackoffMax.
const (
	watchBackoffMin = 100 * time.Millisecond
	watchBackoffMax = 5 * time.Second
	// defaultWatchWait is each blocking read's wait: long enough to cost the
	// agent little, short enough that a dead connection is noticed.
	defaultWatchWait = 5 * time.Minute
)

// watchChange is one line of `agent kv watch`: JSON with -json.
type watchChange struct {
	// Index is the X-Agent-Index of the answer that showed the change.
	Index uint64 `json:"index"`
	// Op is "put" or "delete".
	Op    string   `json:"op"`
	Key   string   `json:"key"`
	Entry *kvEntry `json:"entry,omitempty"`
}

func (c *cli) cmdKVWatch(args []string) int {
	cc := c.newClientCmd("agent kv watch", "[-json] [-stale] [flags] KEY | -prefix PREFIX",
		"Prints the current value of KEY (or of every key under PREFIX), then a line for\neach change (put or delete) until interrupted. Survives leader changes and agent\nrestarts by reading again; changes close together may show as one.", true)
	var prefix string
	prefixSet := false
	cc.fs.Func("prefix", "watch every key under `PREFIX` (\"\" for all) instead of one key", func(v string) error {
		prefix, prefixSet = v, true
		return nil
	})
	stale := cc.fs.Bool("stale", false, "watch this agent's local copy, which may lag the leader")
	wait := cc.fs.Duration("wait", defaultWatchWait, "how long each blocking read waits on the agent (at most 10m)")
	pos, api, code, ok := c.start(cc, args)
	if !ok {
		return code
	}
	t := watchTarget{prefix: prefixSet, key: prefix}
	switch {
	case prefixSet && len(pos) != 0:
		return c.usageError(cc.fs, "give either KEY or -prefix PREFIX, not both")
	case !prefixSet && len(pos) != 1:
		return c.usageError(cc.fs, "expected exactly one KEY (or -prefix PREFIX), got %d argument(s)", len(pos))
	case !prefixSet:
		t.key = pos[0]
	}
	if *wait <= 0 || *wait > 10*time.Minute {
		return c.usageError(cc.fs, "-wait must be between 1ns and 10m, got %s", *wait)
	}
	ctx, stop := c.interruptContext()
	defer stop()
	w := &watcher{api: api, t: t, stale: *stale, wait: *wait, json: cc.jsonOut, out: c.stdout, errOut: c.stderr}
	w.run(ctx)
	return exitOK
}

// interruptContext is cancelled by SIGINT or SIGTERM.
func (c *cli) interruptContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	stopNotify := c.notify(ch)
	go func() {
		select {
		case <-ch:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() { stopNotify(); cancel() }
}

// watchTarget is a key, or a prefix.
type watchTarget struct {
	prefix bool
	key    string
}

// watcher runs the blocking-read loop of `agent kv watch`.
type watcher struct {
	api         *apiClient
	t           watchTarget
	stale, json bool
	wait        time.Duration
	out, errOut io.Writer
	// index is the X-Agent-Index to pass next; seen the entries as last
	// printed, by key.
	index uint64
	seen  map[string]kvEntry
}

// run reads until ctx ends, printing changes and retrying errors.
func (w *watcher) run(ctx context.Context) {
	w.seen = map[string]kvEntry{}
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		entries, index, err := w.read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = nextBackoff(backoff)
			fmt.Fprintf(w.errOut, "agent: watch: %v (retrying in %s)\n", err, backoff)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		for _, ch := range diffEntries(w.seen, entries, index) {
			w.print(ch)
		}
		w.index = nextWatchIndex(w.index, index)
	}
}

// nextBackoff doubles the retry delay within its bounds.
func nextBackoff(d time.Duration) time.Duration {
	return min(max(2*d, watchBackoffMin), watchBackoffMax)
}

// nextWatchIndex is the index to pass next: the answer's, unless it went
// backwards (the cluster was restored from an older snapshot), when the
// watch starts over from 0 and reads the state as it is now.
func nextWatchIndex(held, answered uint64) uint64 {
	if answered < held {
		return 0
	}
	return answered
}

// read does one blocking read and returns the entries it shows by key and
// the answer's index. A missing key is an empty map, not an error.
func (w *watcher) read(ctx context.Context) (map[string]kvEntry, uint64, error) {
	opts := &agentapi.QueryOptions{Stale: w.stale, WaitIndex: w.index, WaitTime: w.wait}
	var list []kvEntry
	var meta agentapi.ReadMeta
	var err error
	if w.t.prefix || w.t.key == "" {
		list, meta, err = w.api.KVList(ctx, w.t.key, opts)
	} else {
		var e kvEntry
		e, meta, err = w.api.KVGet(ctx, w.t.key, opts)
		list = append(list, e)
		if errors.Is(err, agentapi.ErrNotFound) && meta.Index != 0 {
			list, err = nil, nil
		}
	}
	if err != nil {
		return nil, 0, w.api.check(err)
	}
	if meta.Index == 0 {
		return nil, 0, fmt.Errorf("answer from %s has no valid X-Agent-Index", w.api.Host())
	}
	out := make(map[string]kvEntry, len(list))
	for _, e := range list {
		out[e.Key] = e
	}
	return out, meta.Index, nil
}

// diffEntries returns the changes from seen to next, in index order (then
// key order), and makes seen next. A key whose modify index moved is a
// put; a key gone is a delete at the answer's index, the latest it can
// have happened at (one answer may fold several changes).
func diffEntries(seen, next map[string]kvEntry, index uint64) []watchChange {
	var out []watchChange
	for k, e := range next {
		if old, ok := seen[k]; !ok || old.ModifyIndex != e.ModifyIndex {
			e := e
			out = append(out, watchChange{Index: e.ModifyIndex, Op: "put", Key: k, Entry: &e})
		}
	}
	for k := range seen {
		if _, ok := next[k]; !ok {
			out = append(out, watchChange{Index: index, Op: "delete", Key: k})
			delete(seen, k)
		}
	}
	for k, e := range next {
		seen[k] = e
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Index != out[j].Index {
			return out[i].Index < out[j].Index
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// print writes one change: JSON, or "INDEX put KEY VALUE" / "INDEX delete KEY".
func (w *watcher) print(ch watchChange) {
	if w.json {
		b, _ := json.Marshal(ch)
		fmt.Fprintf(w.out, "%s\n", b)
		return
	}
	if ch.Op == "delete" {
		fmt.Fprintf(w.out, "%d delete %s\n", ch.Index, ch.Key)
		return
	}
	fmt.Fprintf(w.out, "%d put %s %s\n", ch.Index, ch.Key, preview(ch.Entry.Value))
}
