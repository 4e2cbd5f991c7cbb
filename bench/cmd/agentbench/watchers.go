package main

import (
	"github.com/clusteragent/agent/api"

	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/clusteragent/agent/bench/agentcluster"
	"github.com/clusteragent/agent/bench/load"
	"github.com/clusteragent/agent/bench/proc"
)

// The watcher stage: n idle blocking reads on one agent, each on a key of
// its own, held on one connection each (HTTP/1.1: one request in flight
// per connection). It measures what they cost the agent while idle
// (memory per watcher, CPU) and what a write wakes (only the watchers of
// the written key, and how fast).
const (
	// hotWatchers watch one key together, for the wake-up latency.
	hotWatchers = 100
	// wakeWrites is how many writes the wake-up figures are taken over.
	wakeWrites = 20
	// watcherIdleWindow is how long CPU is counted with every watcher idle.
	watcherIdleWindow = 10 * time.Second
	// watchWait is the wait the watchers ask for: longer than the stage.
	watchWait = 10 * time.Minute
)

// watcherFigures are the stage's results.
type watcherFigures struct {
	Watchers               int
	RSSBefore, RSSAfter    uint64
	CPUIdle                time.Duration // agent CPU time over watcherIdleWindow with every watcher idle
	CPUBaseline            time.Duration // the same without watchers
	WokenIdle              int64         // answers during the idle window (0 expected)
	WokenPerWrite          []int64       // answers per write to a key one watcher watches
	HotWoken               []int64       // answers per write to the hot key
	LatencyP50, LatencyP99 time.Duration // write sent → hot watcher answered
}

// watchClient runs the watchers and counts their answers.
type watchClient struct {
	api     *api.Client
	hc      *http.Client
	answers atomic.Int64
	mu      sync.Mutex
	hotAt   []time.Time // when each hot watcher's answer came, since the last reset
}

// measureWatchers runs the stage on a single-server agent under dir.
func measureWatchers(ctx context.Context, binary, dir string, n int) (watcherFigures, error) {
	f := watcherFigures{Watchers: n}
	if err := raiseFileLimit(uint64(n+hotWatchers) + 1024); err != nil {
		return f, err
	}
	c, err := agentcluster.Start(ctx, agentcluster.Options{Binary: binary, Dir: dir, Servers: 1})
	if err != nil {
		return f, err
	}
	defer c.Close()
	node := c.Nodes[0]
	wc := &watchClient{hc: &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: n + hotWatchers, DisableCompression: true}}}
	if wc.api, err = api.NewClient(api.Config{Address: node.URL, HTTPClient: wc.hc}); err != nil {
		return f, err
	}
	defer wc.hc.CloseIdleConnections()
	log.Printf("watchers: writing %d keys", n+1)
	indexes, err := wc.fill(ctx, n)
	if err != nil {
		return f, err
	}
	if f.CPUBaseline, err = cpuOver(ctx, node.Pid(), watcherIdleWindow); err != nil {
		return f, err
	}
	if f.RSSBefore, err = proc.RSS(node.Pid()); err != nil {
		return f, err
	}
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); wc.watch(wctx, "w/"+strconv.Itoa(i), indexes[i], false) }()
	}
	for range hotWatchers {
		wg.Add(1)
		go func() { defer wg.Done(); wc.watch(wctx, "hot", indexes[n], true) }()
	}
	log.Printf("watchers: %d blocked (plus %d on one key); idle for %s", n, hotWatchers, watcherIdleWindow)
	if err := waitBlocked(ctx, wc, node, n+hotWatchers); err != nil {
		return f, err
	}
	before := wc.answers.Load()
	if f.CPUIdle, err = cpuOver(ctx, node.Pid(), watcherIdleWindow); err != nil {
		return f, err
	}
	f.WokenIdle = wc.answers.Load() - before
	if f.RSSAfter, err = proc.RSS(node.Pid()); err != nil {
		return f, err
	}
	return f, wc.wake(ctx, n, &f)
}

// fill writes w/0 … w/(n-1) and hot, and returns their modify indexes
// (hot's last).
func (wc *watchClient) fill(ctx context.Context, n int) ([]uint64, error) {
	indexes := make([]uint64, n+1)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i <= n; i = int(next.Add(1) - 1) {
				key := "hot"
				if i < n {
					key = "w/" + strconv.Itoa(i)
				}
				idx, err := wc.put(ctx, key)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				indexes[i] = idx
			}
		}()
	}
	wg.Wait()
	return indexes, firstErr
}

// put writes key and returns the index it got.
func (wc *watchClient) put(ctx context.Context, key string) (uint64, error) {
	res, err := wc.api.KVPut(ctx, key, []byte("v"), nil)
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	return res.Index, nil
}

// watch keeps a blocking read on key open until ctx ends, passing back
// the index it got each time, and counts the answers.
func (wc *watchClient) watch(ctx context.Context, key string, index uint64, hot bool) {
	for ctx.Err() == nil {
		_, meta, err := wc.api.KVGet(ctx, key, &api.QueryOptions{WaitIndex: index, WaitTime: watchWait})
		if err != nil {
			if ctx.Err() == nil {
				log.Printf("watch %s: %v", key, err)
				time.Sleep(100 * time.Millisecond) // back off; the agent may be overloaded
			}
			continue
		}
		if meta.Index != 0 {
			index = meta.Index
		}
		now := time.Now()
		wc.answers.Add(1)
		if hot {
			wc.mu.Lock()
			wc.hotAt = append(wc.hotAt, now)
			wc.mu.Unlock()
		}
	}
}

// wake writes keys one watcher watches, then the hot key, counting the
// answers each write brings, and times the hot watchers' answers.
func (wc *watchClient) wake(ctx context.Context, n int, f *watcherFigures) error {
	const settle = time.Second // every answer a write brings comes well within this
	var lat []time.Duration
	for i := range wakeWrites {
		before := wc.answers.Load()
		if _, err := wc.put(ctx, "w/"+strconv.Itoa(i*(n/wakeWrites))); err != nil {
			return err
		}
		time.Sleep(settle)
		f.WokenPerWrite = append(f.WokenPerWrite, wc.answers.Load()-before)

		wc.mu.Lock()
		wc.hotAt = wc.hotAt[:0]
		wc.mu.Unlock()
		before, sent := wc.answers.Load(), time.Now()
		if _, err := wc.put(ctx, "hot"); err != nil {
			return err
		}
		time.Sleep(settle)
		f.HotWoken = append(f.HotWoken, wc.answers.Load()-before)
		wc.mu.Lock()
		for _, at := range wc.hotAt {
			lat = append(lat, at.Sub(sent))
		}
		wc.mu.Unlock()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	f.LatencyP50, f.LatencyP99 = load.Percentile(lat, 50), load.Percentile(lat, 99)
	return nil
}

// waitBlocked waits until the agent runs a goroutine for each watcher
// (its HTTP handler, at least), or fails with what it last saw.
func waitBlocked(ctx context.Context, wc *watchClient, node *agentcluster.Node, n int) error {
	deadline := time.Now().Add(2 * time.Minute)
	var last float64
	for time.Now().Before(deadline) {
		var err error
		if last, err = metric(ctx, wc.api, "go_goroutines"); err == nil && last >= float64(n) {
			time.Sleep(2 * time.Second) // let the last requests reach their wait
			return nil
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}
	return fmt.Errorf("watchers: the agent runs %.0f goroutines after 2m, want at least %d", last, n)
}

// metric reads one unlabelled metric from node's /metrics.
func metric(ctx context.Context, c *api.Client, name string) (float64, error) {
	var body strings.Builder
	if err := c.Metrics(ctx, &body); err != nil {
		return 0, err
	}
	for _, line := range strings.Split(body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no %s in /metrics", name)
}

// cpuOver returns the CPU time (user + system) pid used over d.
func cpuOver(ctx context.Context, pid int, d time.Duration) (time.Duration, error) {
	a, err := cpuTime(pid)
	if err != nil {
		return 0, err
	}
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(d):
	}
	b, err := cpuTime(pid)
	return b - a, err
}

// cpuTime reads pid's user + system time from /proc (clock ticks of
// 10 ms, the Linux default USER_HZ).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; the fields after it are fixed.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// raiseFileLimit raises this process's open-file limit (which the agent
// it starts inherits) to at least n, or says why it cannot.
func raiseFileLimit(n uint64) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	if l.Cur >= n {
		return nil
	}
	if l.Max < n {
		return fmt.Errorf("watchers: need %d open files, the hard limit is %d (raise it, or use fewer -watchers)", n, l.Max)
	}
	l.Cur = n
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}

// notes renders the figures for the report.
func (f watcherFigures) notes() []string {
	per := func(a, b uint64) string {
		if b < a {
			return "n/a (RSS shrank)"
		}
		return fmt.Sprintf("%.1f KiB", float64(b-a)/float64(f.Watchers+hotWatchers)/1024)
	}
	return []string{
		fmt.Sprintf("watchers: %d idle blocking reads (+%d on one key) on one agent: RSS %.1f → %.1f MiB, %s per watcher",
			f.Watchers, hotWatchers, float64(f.RSSBefore)/(1<<20), float64(f.RSSAfter)/(1<<20), per(f.RSSBefore, f.RSSAfter)),
		fmt.Sprintf("watchers: agent CPU over %s idle: %s with them, %s without (%d answers meanwhile)",
			watcherIdleWindow, f.CPUIdle, f.CPUBaseline, f.WokenIdle),
		fmt.Sprintf("watchers: answers per write to a key one of them watches: %v; per write to the key %d watch: %v",
			f.WokenPerWrite, hotWatchers, f.HotWoken),
		fmt.Sprintf("watchers: write sent → watcher answered, over %d×%d: p50 %s, p99 %s",
			wakeWrites, hotWatchers, f.LatencyP50.Round(10*time.Microsecond), f.LatencyP99.Round(10*time.Microsecond)),
	}
}
