package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/clusteragent/agent/bench/agentcluster"
	"github.com/clusteragent/agent/bench/report"
)

// pollEvery is the resolution of the membership timings.
const pollEvery = 25 * time.Millisecond

// membershipTimeout bounds each membership step; the default timers
// (10s stabilization, 30s reap delay) fit well within it.
const membershipTimeout = 3 * time.Minute

// measureMembership measures, on a formed cluster: a new agent's time from
// start to non-voter and to voter; after kill -9 of it, the time until the
// leader's gossip says dead and until autopilot has pruned it from Raft;
// and after kill -9 of the leader, the time until a write succeeds. It
// leaves the cluster with the leader dead.
func measureMembership(ctx context.Context, c *agentcluster.Cluster) ([]report.Timing, error) {
	leader, err := c.Leader(ctx)
	if err != nil {
		return nil, err
	}
	var out []report.Timing
	add := func(name string, d time.Duration, note string) {
		log.Printf("%s: %s", name, d.Round(time.Millisecond))
		out = append(out, report.Timing{Name: name, Seconds: d.Seconds(), Note: note})
	}

	// A new agent, from exec to each suffrage in the leader's configuration.
	began := time.Now()
	n4, err := c.AddNode("n4")
	if err != nil {
		return nil, err
	}
	var nonvoter, voter time.Duration
	err = poll(ctx, func() (bool, error) {
		if exit := n4.Exited(); exit != nil {
			return false, exit
		}
		servers, err := agentcluster.Configuration(ctx, leader)
		if err != nil {
			return false, nil // the leader is busy; ask again
		}
		for _, s := range servers {
			if s.ID != n4.ID {
				continue
			}
			if nonvoter == 0 {
				nonvoter = time.Since(began)
			}
			if s.Suffrage == "voter" {
				voter = time.Since(began)
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("new agent n4: %w", err)
	}
	add("agent run → non-voter", nonvoter, "a fourth agent joining the seed, until the leader lists it")
	add("agent run → voter", voter, "includes server_stabilization_time")

	// kill -9 of that agent: dead in the leader's gossip, then pruned.
	kctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = n4.Kill(kctx)
	cancel()
	if err != nil {
		return nil, err
	}
	killed := time.Now()
	var dead, pruned time.Duration
	err = poll(ctx, func() (bool, error) {
		if dead == 0 {
			if ms, err := agentcluster.Members(ctx, leader); err == nil {
				for _, m := range ms {
					if m.ID == n4.ID && m.Status == "dead" {
						dead = time.Since(killed)
					}
				}
			}
		}
		servers, err := agentcluster.Configuration(ctx, leader)
		if err != nil {
			return false, nil
		}
		for _, s := range servers {
			if s.ID == n4.ID {
				return false, nil
			}
		}
		pruned = time.Since(killed)
		return dead != 0, nil
	})
	if err != nil {
		return nil, fmt.Errorf("killed agent n4: %w", err)
	}
	add("kill -9 → dead in gossip", dead, "as the leader's member list shows it")
	add("kill -9 → pruned from Raft", pruned, "includes dead_server_reap_after")

	// kill -9 of the leader, then writes through the survivors until one
	// succeeds.
	var survivors []*agentcluster.Node
	for _, n := range c.Nodes {
		if n != leader && n.Running() {
			survivors = append(survivors, n)
		}
	}
	if len(survivors) == 0 {
		return nil, errors.New("no survivors to write through")
	}
	clients := make([]*agentcluster.KVClient, len(survivors))
	for i, n := range survivors {
		clients[i] = agentcluster.NewKVClient(n.URL)
		defer clients[i].Close()
	}
	kctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	err = leader.Kill(kctx)
	cancel()
	if err != nil {
		return nil, err
	}
	killed = time.Now()
	var failover time.Duration
	attempt := 0
	err = poll(ctx, func() (bool, error) {
		kc := clients[attempt%len(clients)]
		attempt++
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if kc.Put(wctx, "bench-failover", []byte("x")) == nil {
			failover = time.Since(killed)
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("writes after killing leader %s: %w", leader.ID, err)
	}
	add("kill -9 leader → first write", failover, fmt.Sprintf("writes sent to the survivors in turn; %d attempts", attempt))
	return out, nil
}

// poll calls check every pollEvery until it reports done or fails, for at
// most membershipTimeout.
func poll(ctx context.Context, check func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, membershipTimeout)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
