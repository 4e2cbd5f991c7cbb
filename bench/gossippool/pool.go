// Package gossippool times gossip at scale with in-process discovery
// instances: n members on loopback that all join one seed at once, each a
// real memberlist with its own UDP and TCP sockets, in one process. It is
// the light way to reach a few hundred members on a small machine, where as
// many agent processes would spend their time being scheduled rather than
// gossiping.
//
// Each member gossips metadata shaped like an agent's (node ID, cluster ID,
// HTTP address, role, zone, version; the first three also a Raft address),
// about 140 bytes for a client and 170 for a server: its size sets how many
// alive messages fit in a gossip packet, so a pool gossiping bare IDs would
// time a lighter protocol than the agents run.
package gossippool

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clusteragent/agent/discovery"
)

// Result is what Measure timed and counted.
type Result struct {
	Members int
	// Converged is from the first Start until every member lists all alive.
	Converged time.Duration
	// FirstDead and AllDead are from the crash of one member until the first,
	// and until every, other member lists it dead.
	FirstDead, AllDead time.Duration
	// FalseDeaths is how many times a member declared another member dead
	// that had not crashed; Refutations how many times a live member heard
	// it was suspect or dead and refuted it. SuspectMsgs counts the suspect
	// messages members handled (each is relayed, so one suspicion counts
	// several times).
	FalseDeaths, Refutations, SuspectMsgs int
	// JoinCPU is the process's CPU time from the first Start to
	// convergence; RestCPU its CPU time per second over RestWindow, once
	// the pool has been left alone for RestSettle(Members) after converging.
	JoinCPU, RestCPU time.Duration
	// RestPackets and RestBytes are the UDP packets and bytes every member
	// sent per second over the rest window, summed over the pool.
	RestPackets, RestBytes float64
	// HeapBytes is the live heap after a collection, at rest.
	HeapBytes uint64
	// Wave is how many members joined at once: all of them (Members) in a
	// mass join, fewer when the pool was formed wave after wave.
	Wave int
	// SchedP99 and SchedMax are the Go scheduler's latency (how long a
	// goroutine that could run waited for a core) during the join: its
	// 99th percentile and its largest bucket. A probe ack waits that long
	// too, so a latency near the probe timeout means false suspicions.
	SchedP99, SchedMax time.Duration
}

// PerMember returns x divided by the pool size, for the per-member figures.
func (r Result) PerMember(x float64) float64 { return x / float64(r.Members) }

// poll is how often every member's view is read.
const poll = 20 * time.Millisecond

// RestSettle is how long a converged pool of n members is left alone
// before its cost at rest is read: after a mass join each member still
// relays the joiners' alive messages (each about 4*log10(n) times, a few
// per packet, at most two packets every 200 ms), about 20 s at 100
// members; that is the cost of the join, not of a member at rest. It is
// 200 ms per member, at least 1 s and at most a minute.
func RestSettle(n int) time.Duration {
	return min(max(time.Duration(n)*200*time.Millisecond, time.Second), time.Minute)
}

// RestWindow is how long the pool is watched at rest.
const RestWindow = 5 * time.Second

// shutdownWait bounds how long Measure waits for its members to stop once
// its context has ended: Shutdown is prompt, but a return is promised.
const shutdownWait = 2 * time.Second

// Measure starts n members with the given gossip profile, all joining the
// first; times convergence; watches the pool at rest; then shuts one down
// without leaving (a crash as its peers see it) and times its detection.
// It returns, with what it measured so far, soon after ctx ends. Every
// member is shut down before it returns. It routes memberlist's metrics
// (go-metrics' process-wide sink) to its own counters while it runs, so
// only one Measure may run at a time in a process.
func Measure(ctx context.Context, n int, profile string) (Result, error) {
	return MeasureTuned(ctx, n, profile, nil)
}

// MeasureTuned is Measure with tune, when not nil, applied to every
// member's configuration: for trying a setting before it becomes a profile.
func MeasureTuned(ctx context.Context, n int, profile string, tune func(*discovery.Config)) (res Result, err error) {
	return MeasureWaves(ctx, n, n, profile, tune)
}

// MeasureWaves is MeasureTuned with the pool formed in waves of wave
// members: each wave joins the seed at once, and the next starts when every
// member started so far lists all of them alive. It builds a pool of a
// size whose mass join one process cannot carry, to measure what a member
// of it costs at rest and how fast a crash is seen.
func MeasureWaves(ctx context.Context, n, wave int, profile string, tune func(*discovery.Config)) (res Result, err error) {
	res.Members, res.Wave = n, min(max(wave, 1), n)
	if n < 3 {
		return res, fmt.Errorf("gossippool: need at least 3 members, got %d", n)
	}
	c := newCounters()
	installSink(c)
	defer uninstallSink()
	var pool []*discovery.Gossip
	defer func() { err = errors.Join(err, shutdownAll(ctx, pool)) }()
	if pool, err = create(ctx, n, profile, tune, c); err != nil {
		return res, err
	}
	began, cpu0, sched0 := time.Now(), cpuTime(), readSched()
	for k := 0; k < n; k += res.Wave {
		end := min(k+res.Wave, n)
		for _, g := range pool[k:end] {
			g.Start()
		}
		if err := converge(ctx, pool[:end]); err != nil {
			res.FalseDeaths, res.Refutations = c.deathsOf("")
			res.SchedP99, res.SchedMax = readSched().since(sched0)
			return res, err
		}
	}
	res.Converged, res.JoinCPU = time.Since(began), cpuTime()-cpu0
	res.SchedP99, res.SchedMax = readSched().since(sched0)
	if err := rest(ctx, &res, c); err != nil {
		return res, err
	}
	victim := pool[n-1]
	err = detect(ctx, &res, pool[:n-1], victim)
	pool = pool[:n-1]
	res.FalseDeaths, res.Refutations = c.deathsOf(victim.LocalMember().ID)
	res.SuspectMsgs = int(c.suspectMsgs.Load())
	return res, err
}

// create makes the n members, none started yet.
func create(ctx context.Context, n int, profile string, tune func(*discovery.Config), c *counters) ([]*discovery.Gossip, error) {
	// One logger for all: at Warn, the lines the counters read and little
	// else.
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: c})
	pool := make([]*discovery.Gossip, 0, n)
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return pool, fmt.Errorf("gossippool: creating member %d: %w", i, err)
		}
		cfg := discovery.DefaultConfig()
		cfg.NodeID = nodeID(i)
		cfg.BindAddr, cfg.BindPort, cfg.Profile = "127.0.0.1", 0, profile
		cfg.Meta = meta(i)
		cfg.Logger = logger
		// The pool is a benchmark: its event queues are never read.
		cfg.EventBuffer = 1
		if i > 0 {
			cfg.Seeds = []string{pool[0].Addr()}
		}
		if tune != nil {
			tune(&cfg)
		}
		g, err := discovery.New(cfg)
		if err != nil {
			return pool, fmt.Errorf("gossippool: member %d: %w", i, err)
		}
		pool = append(pool, g)
	}
	return pool, nil
}

// converge waits until every member lists all alive.
func converge(ctx context.Context, pool []*discovery.Gossip) error {
	n := len(pool)
	// Each poll starts with the member that fell short at the last one, so
	// while the pool converges a poll reads one or a few member lists rather
	// than up to n: reading 200 lists every 20 ms took most of a core from
	// the pool being timed, enough to tip it into false suspicions.
	// Converged still means that every member, read one after the other in
	// a single poll, listed all n alive.
	from := 0
	err := until(ctx, func() (bool, string) {
		for k := range n {
			i := (from + k) % n
			if alive := count(pool[i], discovery.StatusAlive, ""); alive != n {
				from = i
				return false, fmt.Sprintf("%s sees %d of %d alive (%s)", nodeID(i), alive, n, notAlive(pool[i], n))
			}
		}
		return true, ""
	})
	if err != nil {
		return fmt.Errorf("gossippool: convergence: %w", err)
	}
	return nil
}

// rest watches the converged pool for RestWindow after RestSettle: CPU,
// packets, heap.
func rest(ctx context.Context, res *Result, c *counters) error {
	select {
	case <-ctx.Done():
		return fmt.Errorf("gossippool: settling: %w", ctx.Err())
	case <-time.After(RestSettle(res.Members)):
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapBytes = ms.HeapAlloc
	cpu0, p0, b0 := cpuTime(), c.udpPackets.Load(), c.udpBytes.Load()
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return fmt.Errorf("gossippool: at rest: %w", ctx.Err())
	case <-time.After(RestWindow):
	}
	secs := time.Since(t0).Seconds()
	res.RestCPU = time.Duration(float64(cpuTime()-cpu0) / secs)
	res.RestPackets = float64(c.udpPackets.Load()-p0) / secs
	res.RestBytes = float64(c.udpBytes.Load()-b0) / secs
	return nil
}

// detect shuts victim down without a leave and times until the members
// of pool list it dead.
func detect(ctx context.Context, res *Result, pool []*discovery.Gossip, victim *discovery.Gossip) error {
	id := victim.LocalMember().ID
	crashed := time.Now()
	if err := victim.Shutdown(); err != nil {
		return err
	}
	// A crashed member never comes back, so a member that lists it dead is
	// done and not read again: reading all n member lists every poll would
	// itself load the machine the pool runs on.
	pending := append([]*discovery.Gossip(nil), pool...)
	err := until(ctx, func() (bool, string) {
		still := pending[:0]
		for _, g := range pending {
			if count(g, discovery.StatusDead, id) == 0 {
				still = append(still, g)
			}
		}
		pending = still
		seen := len(pool) - len(pending)
		if seen > 0 && res.FirstDead == 0 {
			res.FirstDead = time.Since(crashed)
		}
		return len(pending) == 0, fmt.Sprintf("%d of %d see %s dead", seen, len(pool), id)
	})
	res.AllDead = time.Since(crashed)
	if err != nil {
		return fmt.Errorf("gossippool: detection: %w", err)
	}
	return nil
}

// shutdownAll stops every member at once. Once ctx has ended it waits at
// most shutdownWait, so that a caller told to stop is not held up.
func shutdownAll(ctx context.Context, pool []*discovery.Gossip) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for _, g := range pool {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = g.Shutdown()
			}()
		}
		wg.Wait()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	select {
	case <-done:
		return nil
	case <-time.After(shutdownWait):
		return fmt.Errorf("gossippool: %d members still stopping %s after the context ended", len(pool), shutdownWait)
	}
}

// clusterID is the pool's cluster ID, shaped like the agent's.
const clusterID = "3f2a9c1e-7b4d-4e8a-9f61-2c5d8e0a1b7f"

// servers is how many members gossip server metadata (with a Raft address);
// the rest are clients, as in a cluster of a few servers and many agents.
const servers = 3

// nodeID is member i's ID, as long as an agent's generated one.
func nodeID(i int) string { return fmt.Sprintf("node-%016d", i) }

// meta is member i's metadata, shaped like an agent's.
func meta(i int) discovery.Meta {
	m := discovery.Meta{
		ClusterID: clusterID,
		HTTPAddr:  fmt.Sprintf("127.0.0.1:%d", 20000+i),
		Role:      discovery.RoleClient,
		Zone:      "zone-a",
		Version:   "0.1.0-dev",
	}
	if i < servers {
		m.Role, m.RaftAddr, m.HasState = discovery.RoleServer, fmt.Sprintf("127.0.0.1:%d", 30000+i), true
	}
	return m
}

// notAlive names up to five of the first n members that g does not list
// alive, with what it lists them as: when a pool does not converge, a
// member missing altogether (a rumour that never reached g) reads
// differently from one suspected or declared dead.
func notAlive(g *discovery.Gossip, n int) string {
	status := make(map[string]discovery.Status, n)
	for _, m := range g.Members() {
		status[m.ID] = m.Status
	}
	var out []string
	for i := range n {
		st, ok := status[nodeID(i)]
		switch {
		case !ok:
			out = append(out, nodeID(i)+" unknown")
		case st != discovery.StatusAlive:
			out = append(out, fmt.Sprintf("%s %s", nodeID(i), st))
		}
		if len(out) == 5 {
			break
		}
	}
	return strings.Join(out, ", ")
}

// count is how many members g lists with status s (only id, if set).
func count(g *discovery.Gossip, s discovery.Status, id string) int {
	c := 0
	for _, m := range g.Members() {
		if m.Status == s && (id == "" || m.ID == id) {
			c++
		}
	}
	return c
}

// until polls cond until it holds or ctx ends, then reports what it last saw.
// It waits poll between polls, or three times as long as the last poll
// took if that is longer, so that polling never takes more than a quarter
// of a core from the pool it watches.
func until(ctx context.Context, cond func() (bool, string)) error {
	for {
		began := time.Now()
		ok, last := cond()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), errors.New(last))
		case <-time.After(max(poll, 3*time.Since(began))):
		}
	}
}
