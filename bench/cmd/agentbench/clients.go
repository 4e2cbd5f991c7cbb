package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"
	"sync"
	"time"

	"github.com/clusteragent/agent/bench/agentcluster"
	"github.com/clusteragent/agent/bench/proc"
	"github.com/clusteragent/agent/bench/report"
)

// clientExitLimit is how soon a gossip-only agent should exit after SIGTERM.
const clientExitLimit = 2 * time.Second

// idleWindow is how long the idle clients' CPU is watched: the kernel counts
// CPU in 10 ms ticks, so 10 s resolve 1 ms per second.
const idleWindow = 10 * time.Second

// idleSettle is how long the clients are left alone before their idle
// cost is read: after a mass join every member still relays the joiners'
// alive messages (each about 4*log10(n) times, a few per packet, at most
// two packets every 200 ms) for tens of seconds, which is the cost of the
// join, not of an idle member.
const idleSettle = 20 * time.Second

// idleSample is how many clients the idle CPU and RSS are read from.
const idleSample = 5

// measureClients starts three servers, then n gossip-only agents that all
// join the first server at once; times until every agent lists all alive,
// checks that Raft holds only the servers and that the leader kept its
// term, reads idle clients' CPU and RSS, times a killed client to dead on
// every server, and times every client's exit after SIGTERM.
func measureClients(ctx context.Context, binary, dir string, n int) (_ []report.Timing, err error) {
	fctx, cancel := context.WithTimeout(ctx, formTimeout)
	c, err := agentcluster.Start(fctx, agentcluster.Options{Binary: binary, Dir: dir, Servers: 3})
	cancel()
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	servers := slices.Clone(c.Nodes)
	leader, err := c.Leader(ctx)
	if err != nil {
		return nil, err
	}
	before, err := agentcluster.NodeStatus(ctx, leader)
	if err != nil {
		return nil, err
	}
	began := time.Now()
	clients, err := c.AddClients(n)
	if err != nil {
		return nil, err
	}
	// The clients are started one after another; on a busy machine that
	// alone takes seconds, which the convergence time includes.
	spawned := time.Since(began)
	converged, err := untilAllAlive(ctx, c.Nodes, began)
	if err != nil {
		return nil, fmt.Errorf("%d clients: %w", n, err)
	}
	note, err := checkServersOnly(ctx, leader, before, len(servers))
	if err != nil {
		return nil, err
	}
	busyCPU, _, _ := idleCost(ctx, clients[:min(idleSample, len(clients))], 0)
	dead, err := timeClientDeath(ctx, servers, clients[len(clients)-1])
	if err != nil {
		return nil, err
	}
	cpu, rss, anon := idleCost(ctx, clients[:min(idleSample, len(clients))], idleSettle)
	note += fmt.Sprintf("; %.2f ms CPU/s in the %s right after convergence; the %d processes took %s to start, all saw all %s after the last started",
		busyCPU, idleWindow, n, spawned.Round(time.Millisecond), (converged - spawned).Round(time.Millisecond))
	exits, late := stopTogether(ctx, clients[:len(clients)-1])
	var tally gossipTally
	for _, node := range c.Nodes {
		tally.tallyGossipLog(node.LogPath(), clients[len(clients)-1].ID)
	}
	note += fmt.Sprintf("; in the agents' logs: %d false death declarations, %d refutations", tally.falseDeaths, tally.refutations)
	log.Printf("%d clients: all see all after %s; killed client dead on every server after %s; idle client %.2f ms CPU/s, %.1f MiB RSS (%.1f MiB RssAnon); exit after SIGTERM median %s, max %s, %d over %s; %s",
		n, converged.Round(time.Millisecond), dead.Round(time.Millisecond), cpu, rss, anon,
		exits[len(exits)/2].Round(time.Millisecond), exits[len(exits)-1].Round(time.Millisecond), late, clientExitLimit, note)
	cost := fmt.Sprintf("idle client %.2f ms CPU/s and %.1f MiB RSS, %.1f MiB of it RssAnon (medians of %d); %s",
		cpu, rss, anon, min(idleSample, len(clients)), note)
	return []report.Timing{
		{Name: fmt.Sprintf("3 servers + %d clients: start → all see all", n), Seconds: converged.Seconds(), Note: cost},
		{Name: fmt.Sprintf("3 servers + %d clients: kill -9 client → dead on every server", n), Seconds: dead.Seconds()},
		{Name: fmt.Sprintf("3 servers + %d clients: SIGTERM → exit, slowest client", n), Seconds: exits[len(exits)-1].Seconds(),
			Note: fmt.Sprintf("median %.3f s; %d of %d over %s", exits[len(exits)/2].Seconds(), late, len(exits), clientExitLimit)},
	}, nil
}

// untilAllAlive polls every node until each lists all of them alive.
func untilAllAlive(ctx context.Context, nodes []*agentcluster.Node, began time.Time) (time.Duration, error) {
	var rounds int
	_, all, err := untilEvery(ctx, nodes, func(node *agentcluster.Node) (bool, error) {
		ms, err := agentcluster.Members(ctx, node)
		if err != nil {
			return false, nil
		}
		alive := 0
		for _, m := range ms {
			if m.Status == "alive" {
				alive++
			}
		}
		return alive == len(nodes), nil
	}, &rounds)
	if err != nil {
		return 0, fmt.Errorf("convergence: %w", err)
	}
	return all.Sub(began), nil
}

// checkServersOnly fails unless the leader's Raft configuration holds
// exactly the servers; it notes whether the leader or term moved.
func checkServersOnly(ctx context.Context, leader *agentcluster.Node, before agentcluster.Status, servers int) (string, error) {
	conf, err := agentcluster.Configuration(ctx, leader)
	if err != nil {
		return "", err
	}
	if len(conf) != servers {
		return "", fmt.Errorf("the Raft configuration holds %d servers after the clients joined, want %d: %+v", len(conf), servers, conf)
	}
	after, err := agentcluster.NodeStatus(ctx, leader)
	if err != nil {
		return "", err
	}
	if after.LeaderID != before.LeaderID || after.Term != before.Term {
		return fmt.Sprintf("LEADER CHANGED during the join: %s term %d → %s term %d", before.LeaderID, before.Term, after.LeaderID, after.Term), nil
	}
	return fmt.Sprintf("no leader change during the join (term %d)", after.Term), nil
}

// idleCost is the median CPU (ms per second), RSS and anonymous RSS (MiB)
// of clients over idleWindow, after waiting settle. The anonymous part is
// what each client adds; the rest is the binary's pages, shared by all.
func idleCost(ctx context.Context, clients []*agentcluster.Node, settle time.Duration) (cpuMs, rssMiB, anonMiB float64) {
	select {
	case <-ctx.Done():
		return 0, 0, 0
	case <-time.After(settle):
	}
	start := make([]time.Duration, len(clients))
	for i, n := range clients {
		start[i], _ = proc.CPUTimePrecise(n.Pid())
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return 0, 0, 0
	case <-time.After(idleWindow):
	}
	secs := time.Since(t0).Seconds()
	var cpus, rsss, anons []float64
	for i, n := range clients {
		end, err := proc.CPUTimePrecise(n.Pid())
		rss, rerr := proc.RSS(n.Pid())
		anon, aerr := proc.RSSAnon(n.Pid())
		if err != nil || rerr != nil || aerr != nil {
			continue
		}
		cpus = append(cpus, float64(end-start[i])/float64(time.Millisecond)/secs)
		rsss = append(rsss, float64(rss)/(1<<20))
		anons = append(anons, float64(anon)/(1<<20))
	}
	return median(cpus), median(rsss), median(anons)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// timeClientDeath kill -9s victim and times until every server lists it
// dead.
func timeClientDeath(ctx context.Context, servers []*agentcluster.Node, victim *agentcluster.Node) (time.Duration, error) {
	kctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := victim.Kill(kctx)
	cancel()
	if err != nil {
		return 0, err
	}
	killed := time.Now()
	var rounds int
	_, all, err := untilEvery(ctx, servers, func(node *agentcluster.Node) (bool, error) {
		ms, err := agentcluster.Members(ctx, node)
		if err != nil {
			return false, nil
		}
		for _, m := range ms {
			if m.ID == victim.ID {
				return m.Status == "dead", nil
			}
		}
		return false, nil
	}, &rounds)
	if err != nil {
		return 0, fmt.Errorf("killed client %s: %w", victim.ID, err)
	}
	return all.Sub(killed), nil
}

// stopTogether sends SIGTERM to every client at once and returns their
// exit times, sorted, and how many took longer than clientExitLimit.
func stopTogether(ctx context.Context, clients []*agentcluster.Node) ([]time.Duration, int) {
	took := make([]time.Duration, len(clients))
	var wg sync.WaitGroup
	for i, n := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			took[i], _ = n.Terminate(tctx)
		}()
	}
	wg.Wait()
	slices.Sort(took)
	late := 0
	for _, d := range took {
		if d > clientExitLimit {
			late++
		}
	}
	return took, late
}
