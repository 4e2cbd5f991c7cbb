// Package gossippool times gossip at scale with in-process discovery
// instances: n members on loopback that all join one seed at once, each a
// real memberlist with its own UDP and TCP sockets, in one process. It is
// the light way to reach a few hundred members on a small machine, where as
// many agent processes would spend their time being scheduled rather than
// gossiping.
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
		cfg.NodeID = fmt.Sprintf("g%03d", i)
		cfg.BindAddr, cfg.BindPort, cfg.Profile = "127.0.0.1", 0, profile
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
	err := until(ctx, func() (bool, string) {
		for _, g := range pool {
			if alive := count(g, discovery.StatusAlive, ""); alive != n {
				return false, fmt.Sprintf("%s sees %d of %d alive", g.LocalMember().ID, alive, n)
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
	err = until(ctx, func() (bool, string) {
		seen := 0
		for _, g := range pool {
			if count(g, discovery.StatusDead, id) == 1 {
				seen++
			}
		}
		if seen > 0 && res.FirstDead == 0 {
			res.FirstDead = time.Since(crashed)
		}
		return seen == len(pool), fmt.Sprintf("%d of %d see %s dead", seen, len(pool), id)
	})
	res.AllDead = time.Since(crashed)
	if err != nil {
		return res, fmt.Errorf("gossippool: detection: %w", err)
	}
	return res, nil
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
func until(ctx context.Context, cond func() (bool, string)) error {
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		ok, last := cond()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), errors.New(last))
		case <-tick.C:
		}
	}
}
