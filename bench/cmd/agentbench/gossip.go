package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/clusteragent/agent/bench/agentcluster"
	"github.com/clusteragent/agent/bench/gossippool"
	"github.com/clusteragent/agent/bench/report"
)

// gossipRound is the pause between rounds of asking every agent for its
// member list; with hundreds of agents a round itself takes a while, so
// the timings' resolution is a round.
const gossipRound = 250 * time.Millisecond

// gossipTimeout bounds each gossip step.
const gossipTimeout = 5 * time.Minute

// measureGossip starts n gossip-only agents under dir that all join the
// first at once, and times until every agent lists all n alive; then kills
// -9 the last one and times until the first and until every other agent
// no longer lists it alive or suspect.
func measureGossip(ctx context.Context, binary, dir string, n int) (_ []report.Timing, err error) {
	began := time.Now()
	c, err := agentcluster.StartGossipPool(agentcluster.Options{Binary: binary, Dir: dir}, n)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	log.Printf("gossip %d: started %d agents in %s", n, n, time.Since(began).Round(time.Millisecond))

	var rounds int
	lastAlive := map[string]int{} // what each agent last reported
	_, all, err := untilEvery(ctx, c.Nodes, func(node *agentcluster.Node) (bool, error) {
		ms, err := agentcluster.Members(ctx, node)
		if err != nil {
			return false, nil // starting, or busy: ask next round
		}
		alive := 0
		for _, m := range ms {
			if m.Status == "alive" {
				alive++
			}
		}
		lastAlive[node.ID] = alive
		return alive == n, nil
	}, &rounds)
	if err != nil {
		fewest := n
		for _, node := range c.Nodes {
			fewest = min(fewest, lastAlive[node.ID])
		}
		return nil, fmt.Errorf("gossip %d: convergence (at the last round an agent saw only %d alive): %w", n, fewest, err)
	}
	converged := all.Sub(began)
	log.Printf("gossip %d: every agent sees all %d alive after %s", n, n, converged.Round(time.Millisecond))

	victim := c.Nodes[len(c.Nodes)-1]
	kctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = victim.Kill(kctx)
	cancel()
	if err != nil {
		return nil, err
	}
	killed := time.Now()
	first, all, err := untilEvery(ctx, c.Nodes[:len(c.Nodes)-1], func(node *agentcluster.Node) (bool, error) {
		ms, err := agentcluster.Members(ctx, node)
		if err != nil {
			return false, nil
		}
		for _, m := range ms {
			if m.ID == victim.ID {
				return m.Status != "alive" && m.Status != "suspect", nil
			}
		}
		return true, nil // already forgotten
	}, &rounds)
	if err != nil {
		return nil, fmt.Errorf("gossip %d: crash detection: %w", n, err)
	}
	log.Printf("gossip %d: kill -9 seen dead by the first agent after %s, by all after %s", n,
		first.Sub(killed).Round(time.Millisecond), all.Sub(killed).Round(time.Millisecond))
	note := fmt.Sprintf("gossip-only agents joining one seed at once; resolution one polling round (%d rounds, %s apart)", rounds, gossipRound)
	return []report.Timing{
		{Name: fmt.Sprintf("%d agents: start → all see all", n), Seconds: converged.Seconds(), Note: note},
		{Name: fmt.Sprintf("%d agents: kill -9 → first sees dead", n), Seconds: first.Sub(killed).Seconds()},
		{Name: fmt.Sprintf("%d agents: kill -9 → all see dead", n), Seconds: all.Sub(killed).Seconds()},
	}, nil
}

// untilEvery asks every node, round after round, until done holds for each
// (a node that said done is not asked again), and returns when done first
// held for any node and when for the last. A node's process exiting ends
// it with an error. rounds counts the rounds.
func untilEvery(ctx context.Context, nodes []*agentcluster.Node, done func(*agentcluster.Node) (bool, error), rounds *int) (first, all time.Time, err error) {
	ctx, cancel := context.WithTimeout(ctx, gossipTimeout)
	defer cancel()
	pending := append([]*agentcluster.Node(nil), nodes...)
	for {
		*rounds++
		var still []*agentcluster.Node
		for _, node := range pending {
			if exit := node.Exited(); exit != nil {
				return first, all, exit
			}
			ok, err := done(node)
			if err != nil {
				return first, all, err
			}
			if !ok {
				still = append(still, node)
				continue
			}
			if first.IsZero() {
				first = time.Now()
			}
		}
		pending = still
		if len(pending) == 0 {
			return first, time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return first, all, fmt.Errorf("%w with %d of %d agents pending", ctx.Err(), len(pending), len(nodes))
		case <-time.After(gossipRound):
		}
	}
}

// measureGossipInproc times a pool of n in-process discovery members (see
// package gossippool), which a small machine can run at sizes where agent
// processes would only contend for the CPU.
func measureGossipInproc(ctx context.Context, n int) ([]report.Timing, error) {
	ctx, cancel := context.WithTimeout(ctx, gossipTimeout)
	defer cancel()
	res, err := gossippool.Measure(ctx, n, "lan")
	if err != nil {
		return nil, fmt.Errorf("%w (false deaths %d, refutations %d so far; scheduler latency p99 %s, max %s)",
			err, res.FalseDeaths, res.Refutations, res.SchedP99.Round(time.Millisecond), res.SchedMax.Round(time.Millisecond))
	}
	log.Printf("gossip %d in process: converged in %s, crash seen first after %s, by all after %s; %s",
		n, res.Converged.Round(time.Millisecond), res.FirstDead.Round(time.Millisecond), res.AllDead.Round(time.Millisecond), inprocCost(res))
	note := "in-process discovery members, lan profile, one process; " + inprocCost(res)
	return []report.Timing{
		{Name: fmt.Sprintf("%d members: start → all see all", n), Seconds: res.Converged.Seconds(), Note: note},
		{Name: fmt.Sprintf("%d members: crash → first sees dead", n), Seconds: res.FirstDead.Seconds()},
		{Name: fmt.Sprintf("%d members: crash → all see dead", n), Seconds: res.AllDead.Seconds()},
	}, nil
}

// inprocCost says what a pool's members cost, each: the figures a fleet of
// machines would see per machine.
func inprocCost(res gossippool.Result) string {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	joinSecs := max(res.Converged.Seconds(), 1e-9)
	return fmt.Sprintf("false deaths %d, refutations %d, suspect messages %d; scheduler latency during the join p99 %s, max %s; "+
		"per member: join %.2f ms CPU/s, rest %.3f ms CPU/s, %.1f packets/s, %.0f B/s, heap %.0f KiB",
		res.FalseDeaths, res.Refutations, res.SuspectMsgs, res.SchedP99.Round(100*time.Microsecond), res.SchedMax.Round(100*time.Microsecond),
		res.PerMember(ms(res.JoinCPU)/joinSecs), res.PerMember(ms(res.RestCPU)),
		res.PerMember(res.RestPackets), res.PerMember(res.RestBytes), res.PerMember(float64(res.HeapBytes))/1024)
}
