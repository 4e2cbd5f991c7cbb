package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// FaultRecord is one injected fault in a run's schedule.
type FaultRecord struct {
	Kind   FaultKind `json:"kind"`
	Target string    `json:"target,omitempty"`
	// Start is when the fault was in force (the kill, pause or network
	// fault had taken effect; for churn, when the newcomer was started);
	// End when it was healed (the restart, resume or network heal
	// completed; for churn, when autopilot had settled).
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Recovery is from End to the acknowledgement of the first write sent
	// after End; 0 with Recovered false when no write succeeded afterwards.
	Recovery  time.Duration `json:"recovery_ns"`
	Recovered bool          `json:"recovered"`
	// Outage is from Start to the acknowledgement of the first write sent
	// after Start: how long clients could not write (a failover, for a
	// fault on the leader; about nothing for a fault on a follower).
	Outage time.Duration `json:"outage_ns"`
	Note   string        `json:"note,omitempty"`
}

// nemesis injects one fault at a time into a cluster.
type nemesis struct {
	c    Cluster
	obs  *observer
	rng  *rand.Rand
	logf func(string, ...any)
	// hold is how long a fault stays in place, at least; pauses must outlast
	// the election timeout.
	hold time.Duration

	mu      sync.Mutex
	retired map[string]bool // killed for good by churn
}

func newNemesis(c Cluster, obs *observer, seed uint64, hold time.Duration, logf func(string, ...any)) *nemesis {
	return &nemesis{c: c, obs: obs, rng: rand.New(rand.NewPCG(seed, 0x6e656d)), logf: logf, hold: hold, retired: map[string]bool{}}
}

// live returns the nodes that are part of the cluster (not retired by churn).
func (n *nemesis) live() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, id := range n.c.Nodes() {
		if !n.retired[id] {
			out = append(out, id)
		}
	}
	return out
}

func (n *nemesis) retiredNodes() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for id := range n.retired {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// holdFor waits out a fault's duration: hold plus up to half of it again.
func (n *nemesis) holdFor(ctx context.Context) error {
	d := n.hold + time.Duration(n.rng.Int64N(int64(n.hold/2)+1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// leaderAndFollower finds the current leader and a random follower.
func (n *nemesis) leaderAndFollower(ctx context.Context) (leader, follower string, err error) {
	nodes := n.live()
	leader, err = n.obs.waitLeader(ctx, nodes, 15*time.Second)
	if err != nil {
		return "", "", err
	}
	var others []string
	for _, id := range nodes {
		if id != leader {
			others = append(others, id)
		}
	}
	if len(others) == 0 {
		return "", "", fmt.Errorf("no follower besides leader %s", leader)
	}
	return leader, others[n.rng.IntN(len(others))], nil
}

// inject runs one fault of kind from start to heal. The fault is healed
// even when ctx ends midway, with a fresh bounded context, so a run never
// leaves a node dead or cut off behind it.
func (n *nemesis) inject(ctx context.Context, kind FaultKind) (FaultRecord, error) {
	rec := FaultRecord{Kind: kind}
	leader, follower, err := n.leaderAndFollower(ctx)
	if err != nil {
		return rec, fmt.Errorf("%s: %w", kind, err)
	}
	heal := func(f func(context.Context) error) error {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		err := f(hctx)
		rec.End = time.Now()
		return err
	}
	rec.Start = time.Now()
	switch kind {
	case KillLeader, KillFollower:
		rec.Target = follower
		if kind == KillLeader {
			rec.Target = leader
		}
		if err := n.c.Kill(ctx, rec.Target); err != nil {
			return rec, err
		}
		rec.Start = time.Now()
		holdErr := n.holdFor(ctx)
		return rec, errors.Join(holdErr, heal(func(c context.Context) error { return n.c.Restart(c, rec.Target) }))
	case PauseLeader:
		rec.Target = leader
		if err := n.c.Pause(ctx, leader); err != nil {
			return rec, err
		}
		rec.Start = time.Now()
		holdErr := n.holdFor(ctx)
		return rec, errors.Join(holdErr, heal(func(c context.Context) error { return n.c.Resume(c, leader) }))
	case PartitionLeader, PartitionFollower:
		rec.Target = follower
		if kind == PartitionLeader {
			rec.Target = leader
		}
		var rest []string
		for _, id := range n.live() {
			if id != rec.Target {
				rest = append(rest, id)
			}
		}
		return rec, n.network(ctx, &rec, heal, func(c context.Context) error {
			return n.c.Partition(c, [][]string{{rec.Target}, rest})
		})
	case OneWayCut:
		rec.Target = leader + "->" + follower
		return rec, n.network(ctx, &rec, heal, func(c context.Context) error { return n.c.Cut(c, leader, follower) })
	case GossipLoss:
		p := 0.2 + 0.3*n.rng.Float64()
		rec.Note = fmt.Sprintf("loss %.0f%%", p*100)
		return rec, n.network(ctx, &rec, heal, func(c context.Context) error { return n.c.GossipLoss(c, p) })
	case RaftDelay:
		d := time.Duration(10+n.rng.IntN(40)) * time.Millisecond
		rec.Note = "delay " + d.String()
		return rec, n.network(ctx, &rec, heal, func(c context.Context) error { return n.c.RaftDelay(c, d) })
	case Churn:
		return rec, n.churn(ctx, &rec, leader)
	case FullRestart, MassRestart:
		rec.Target = "all"
		return rec, n.restartAll(ctx, &rec, kind == MassRestart, heal)
	}
	return rec, fmt.Errorf("unknown fault kind %q", kind)
}

// network applies a network fault, holds it and heals it.
func (n *nemesis) network(ctx context.Context, rec *FaultRecord, heal func(func(context.Context) error) error, apply func(context.Context) error) error {
	if err := apply(ctx); err != nil {
		return errors.Join(err, heal(n.c.Heal))
	}
	rec.Start = time.Now()
	holdErr := n.holdFor(ctx)
	return errors.Join(holdErr, heal(n.c.Heal))
}

// churn adds a server through a seed and kills a follower for good; the
// fault ends once autopilot has made the newcomer a member and pruned the
// dead one, which it must do within the reap delay plus a bound.
func (n *nemesis) churn(ctx context.Context, rec *FaultRecord, leader string) error {
	added, err := n.c.AddNode(ctx)
	if err != nil {
		return fmt.Errorf("churn: add: %w", err)
	}
	var victim string
	for _, id := range n.live() {
		if id != leader && id != added {
			victim = id
			break
		}
	}
	if victim == "" {
		return fmt.Errorf("churn: no follower to kill besides leader %s and newcomer %s", leader, added)
	}
	rec.Target = "+" + added + " -" + victim
	if err := n.c.Kill(ctx, victim); err != nil {
		return err
	}
	n.mu.Lock()
	n.retired[victim] = true
	n.mu.Unlock()
	bound := n.c.Settings().DeadServerReapAfter + 30*time.Second
	err = waitCond(ctx, bound, func(c context.Context) error {
		conf, err := leaderConfiguration(c, n.obs, n.live())
		if err != nil {
			return err
		}
		if _, ok := conf[victim]; ok {
			return fmt.Errorf("dead %s still in the configuration %v", victim, conf)
		}
		if _, ok := conf[added]; !ok {
			return fmt.Errorf("newcomer %s not in the configuration %v", added, conf)
		}
		return nil
	})
	rec.End = time.Now()
	if err != nil {
		return fmt.Errorf("churn: autopilot did not settle within %s: %w", bound, err)
	}
	return nil
}

// restartAll kills every live node, then restarts them one after another
// (full restart) or all at once (mass restart).
func (n *nemesis) restartAll(ctx context.Context, rec *FaultRecord, atOnce bool, heal func(func(context.Context) error) error) error {
	nodes := n.live()
	var errs []error
	if atOnce {
		errs = append(errs, parallel(nodes, func(id string) error { return n.c.Kill(ctx, id) }))
	} else {
		for _, id := range nodes {
			errs = append(errs, n.c.Kill(ctx, id))
		}
	}
	rec.Start = time.Now()
	errs = append(errs, heal(func(c context.Context) error {
		if atOnce {
			return parallel(nodes, func(id string) error { return n.c.Restart(c, id) })
		}
		var errs []error
		for _, id := range nodes {
			errs = append(errs, n.c.Restart(c, id))
		}
		return errors.Join(errs...)
	}))
	return errors.Join(errs...)
}

// parallel runs f for every id at once and joins the errors.
func parallel(ids []string, f func(string) error) error {
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(id)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitCond polls cond every 200ms until it returns nil or timeout passes,
// and then returns the last error seen.
func waitCond(ctx context.Context, timeout time.Duration, cond func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-tick.C:
		}
	}
}
