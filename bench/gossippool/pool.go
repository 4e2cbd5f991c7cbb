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
	"time"

	"github.com/clusteragent/agent/discovery"
)

// Result is what Measure timed.
type Result struct {
	Members int
	// Converged is from the first Start until every member lists all alive.
	Converged time.Duration
	// FirstDead and AllDead are from the crash of one member until the first,
	// and until every, other member lists it dead.
	FirstDead, AllDead time.Duration
}

// poll is how often every member's view is read.
const poll = 20 * time.Millisecond

// Measure starts n members with the given gossip profile, all joining the
// first; times convergence; then shuts one down without leaving (a crash as
// its peers see it) and times its detection. Every member is shut down
// before it returns.
func Measure(ctx context.Context, n int, profile string) (Result, error) {
	res := Result{Members: n}
	if n < 3 {
		return res, fmt.Errorf("gossippool: need at least 3 members, got %d", n)
	}
	pool := make([]*discovery.Gossip, 0, n)
	defer func() {
		for _, g := range pool {
			_ = g.Shutdown()
		}
	}()
	for i := 0; i < n; i++ {
		cfg := discovery.DefaultConfig()
		cfg.NodeID = nodeID(i)
		cfg.BindAddr, cfg.BindPort, cfg.Profile = "127.0.0.1", 0, profile
		cfg.Meta = meta(i)
		// The pool is a benchmark: its event queues are never read.
		cfg.EventBuffer = 1
		if i > 0 {
			cfg.Seeds = []string{pool[0].Addr()}
		}
		g, err := discovery.New(cfg)
		if err != nil {
			return res, fmt.Errorf("gossippool: member %d: %w", i, err)
		}
		pool = append(pool, g)
	}
	began := time.Now()
	for _, g := range pool {
		g.Start()
	}
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
				return false, fmt.Sprintf("%s sees %d of %d alive", nodeID(i), alive, n)
			}
		}
		return true, ""
	})
	if err != nil {
		return res, fmt.Errorf("gossippool: convergence: %w", err)
	}
	res.Converged = time.Since(began)

	victim := pool[n-1]
	id := victim.LocalMember().ID
	crashed := time.Now()
	if err := victim.Shutdown(); err != nil {
		return res, err
	}
	pool = pool[:n-1]
	// A crashed member never comes back, so a member that lists it dead is
	// done and not read again: reading all n member lists every poll would
	// itself load the machine the pool runs on.
	pending := append([]*discovery.Gossip(nil), pool...)
	err = until(ctx, func() (bool, string) {
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
		return res, fmt.Errorf("gossippool: detection: %w", err)
	}
	return res, nil
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
