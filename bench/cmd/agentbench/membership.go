package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strconv"
	"strings"
	"time"

	"github.com/clusteragent/agent/bench/agentcluster"
	"github.com/clusteragent/agent/bench/report"
)

// pollEvery is the resolution of the membership timings, and the least
// time between two write attempts after a leader is killed.
const pollEvery = 25 * time.Millisecond

// membershipTimeout bounds each membership step; the default timers
// (10s stabilization, 30s reap delay) fit well within it.
const membershipTimeout = 3 * time.Minute

// attemptTimeout bounds each write attempt after the leader is killed. A
// survivor answers at once when it cannot reach the dead leader, and holds
// a write while no leader is known and forwards it once one is; so an
// attempt cut off here would have had no answer before the next one gets
// it, and cutting it off bounds what a write stuck elsewhere can add to
// the figure.
const attemptTimeout = 500 * time.Millisecond

// killTimeout bounds the wait for a killed process to be reaped.
const killTimeout = 30 * time.Second

// Targets of the issue, judged on the medians of the repeats (and the
// maximum for failover).
const (
	targetFailoverMedian = time.Second
	targetFailoverMax    = 2 * time.Second
	targetDead           = 2 * time.Second
	targetNonVoter       = time.Second
	// targetPruneSlack is how long past dead_server_reap_after a dead
	// server may stay in Raft.
	targetPruneSlack = time.Second
)

// Autopilot defaults, for the notes and the pruning target when not
// overridden.
const (
	defaultStabilization = 10 * time.Second
	defaultReapAfter     = 30 * time.Second
)

// measureMembership runs o.crashes fourth agents (start, promotion, kill -9,
// pruning) and then o.failovers leader kills (kill -9, first write,
// restart, whole again) on a formed cluster, and adds each repeat, and
// their medians and maxima against the targets, to r. A repeat
// that fails ends its series, with a note, and the report keeps the
// repeats done; only ctx ending is an error. The cluster is left whole.
func measureMembership(ctx context.Context, c *agentcluster.Cluster, o options, r *report.Report) error {
	for i := range o.crashes {
		id := fmt.Sprintf("n%d", len(c.Nodes)+1)
		log.Printf("crash %d of %d: agent %s", i+1, o.crashes, id)
		cr, err := measureCrash(ctx, c, id)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log.Printf("crash %d: %v", i+1, err)
			r.Notes = append(r.Notes, fmt.Sprintf("crash %d of %d did not finish, so the series stops at %d: %s", i+1, o.crashes, i, oneLine(err)))
			break
		}
		log.Printf("crash %d: %s run → non-voter %s, → voter %s; kill -9 → dead %s, → pruned %s (dead → pruned %s)", i+1, cr.ID,
			secs(cr.NonVoterSeconds), secs(cr.VoterSeconds), secs(cr.DeadSeconds), secs(cr.PrunedSeconds), secs(cr.DeadToPrunedSeconds()))
		r.Crashes = append(r.Crashes, cr)
	}
	r.Repeats = append(r.Repeats, crashSummaries(r.Crashes, o)...)

	for i := range o.failovers {
		log.Printf("failover %d of %d", i+1, o.failovers)
		f, err := measureFailover(ctx, c)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log.Printf("failover %d: %v", i+1, err)
			r.Notes = append(r.Notes, fmt.Sprintf("failover %d of %d did not finish, so the series stops at %d: %s", i+1, o.failovers, i, oneLine(err)))
			break
		}
		log.Printf("failover %d: killed %s, first write %s after %d attempts (%d timed out), new leader %s; restart → whole %s, term %d → %d",
			i+1, f.Killed, secs(f.Seconds), f.Attempts, f.TimedOut, f.NewLeader, secs(f.RejoinSeconds), f.TermBefore, f.TermAfter)
		r.Failovers = append(r.Failovers, f)
	}
	r.Repeats = append(r.Repeats, failoverSummaries(r.Failovers)...)
	return nil
}

// measureCrash starts a fourth agent named id on a whole cluster and times
// it from exec to each suffrage in the leader's configuration; then kills
// it with SIGKILL and times until the leader's gossip says dead and until
// autopilot has pruned it from Raft.
func measureCrash(ctx context.Context, c *agentcluster.Cluster, id string) (report.Crash, error) {
	cr := report.Crash{ID: id}
	// From a whole cluster, so no earlier repeat's pruning is under way.
	wctx, cancel := context.WithTimeout(ctx, membershipTimeout)
	_, err := c.WaitWhole(wctx, pollEvery)
	cancel()
	if err != nil {
		return cr, err
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		return cr, err
	}

	began := time.Now()
	n, err := c.AddNode(id)
	if err != nil {
		return cr, err
	}
	err = poll(ctx, func() (bool, error) {
		if exit := n.Exited(); exit != nil {
			return false, exit
		}
		servers, err := agentcluster.Configuration(ctx, leader)
		if err != nil {
			return false, nil // the leader is busy; ask again
		}
		for _, s := range servers {
			if s.ID != n.ID {
				continue
			}
			if cr.NonVoterSeconds == 0 {
				cr.NonVoterSeconds = time.Since(began).Seconds()
			}
			if s.Suffrage == "voter" {
				cr.VoterSeconds = time.Since(began).Seconds()
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return cr, fmt.Errorf("new agent %s: %w", id, err)
	}

	// Timed from the signal, so the figures include reaping the process.
	killed := time.Now()
	kctx, cancel := context.WithTimeout(ctx, killTimeout)
	err = n.Kill(kctx)
	cancel()
	if err != nil {
		return cr, err
	}
	err = poll(ctx, func() (bool, error) {
		if cr.DeadSeconds == 0 {
			if ms, err := agentcluster.Members(ctx, leader); err == nil {
				for _, m := range ms {
					if m.ID == n.ID && m.Status == "dead" {
						cr.DeadSeconds = time.Since(killed).Seconds()
					}
				}
			}
		}
		servers, err := agentcluster.Configuration(ctx, leader)
		if err != nil {
			return false, nil
		}
		for _, s := range servers {
			if s.ID == n.ID {
				return false, nil
			}
		}
		cr.PrunedSeconds = time.Since(killed).Seconds()
		if cr.DeadSeconds == 0 {
			return false, fmt.Errorf("pruned after %s before the leader's gossip was seen to say dead", secs(cr.PrunedSeconds))
		}
		return true, nil
	})
	if err != nil {
		return cr, fmt.Errorf("killed agent %s: %w", id, err)
	}
	return cr, nil
}

// measureFailover kills the leader of a whole cluster with SIGKILL, writes
// through the survivors in turn, each attempt bounded by attemptTimeout,
// until one succeeds; then restarts the killed agent with its data dir and
// waits until the cluster is whole again.
func measureFailover(ctx context.Context, c *agentcluster.Cluster) (report.Failover, error) {
	var f report.Failover
	wctx, cancel := context.WithTimeout(ctx, membershipTimeout)
	st, err := c.WaitWhole(wctx, pollEvery)
	cancel()
	if err != nil {
		return f, err
	}
	f.TermBefore = st.Term
	var leader *agentcluster.Node
	var survivors []*agentcluster.Node
	for _, n := range c.Running() {
		if n.ID == st.NodeID {
			leader = n
		} else {
			survivors = append(survivors, n)
		}
	}
	if leader == nil || len(survivors) == 0 {
		return f, fmt.Errorf("leader %q among the running nodes, with %d others to write through", st.NodeID, len(survivors))
	}
	f.Killed = leader.ID
	clients := make([]*agentcluster.KVClient, len(survivors))
	for i, n := range survivors {
		if clients[i], err = agentcluster.NewKVClient(n.URL); err != nil {
			return f, err
		}
		defer clients[i].Close()
		// One write each first, as a client already talking to the
		// cluster would have: the connection open, the follower's
		// forwarding connection to the leader too.
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := clients[i].Put(pctx, "bench-failover", []byte("before"))
		cancel()
		if err != nil {
			return f, fmt.Errorf("write through %s before the kill: %w", n.ID, err)
		}
	}

	killed := time.Now()
	kctx, cancel := context.WithTimeout(ctx, killTimeout)
	err = leader.Kill(kctx)
	cancel()
	if err != nil {
		return f, err
	}
	res, err := writeUntilAccepted(ctx, clients, attemptTimeout, pollEvery, membershipTimeout)
	f.Attempts, f.TimedOut = res.attempts, len(res.cut)
	for _, c := range res.cut {
		f.Cut = append(f.Cut, report.CutAttempt{Via: survivors[c.via].ID, StartSeconds: c.began.Sub(killed).Seconds()})
	}
	if res.lastErr != nil {
		f.LastError = oneLine(res.lastErr)
	}
	if err != nil {
		return f, fmt.Errorf("writes after killing leader %s: %w", leader.ID, err)
	}
	f.Seconds = res.at.Sub(killed).Seconds()
	f.NewLeader = "?"
	if s, err := agentcluster.NodeStatus(ctx, survivors[res.via]); err == nil && s.LeaderID != "" {
		f.NewLeader = s.LeaderID
	}

	restarted := time.Now()
	if err := c.Restart(leader); err != nil {
		return f, err
	}
	wctx, cancel = context.WithTimeout(ctx, membershipTimeout)
	st, err = c.WaitWhole(wctx, pollEvery)
	cancel()
	if err != nil {
		return f, fmt.Errorf("after restarting %s: %w", leader.ID, err)
	}
	f.RejoinSeconds = time.Since(restarted).Seconds()
	f.TermAfter = st.Term
	return f, nil
}

// writeResult is how writeUntilAccepted went.
type writeResult struct {
	at       time.Time // when the accepted write returned
	via      int       // index of the client it went through
	attempts int
	cut      []cutAttempt // the attempts the per-attempt timeout ended
	lastErr  error        // the last failure, nil if the first attempt succeeded
}

// cutAttempt is an attempt ended by the per-attempt timeout.
type cutAttempt struct {
	via   int
	began time.Time
}

// writeUntilAccepted writes through clients in turn, each attempt bounded
// by perAttempt and begun at least every apart after the one before,
// until a write succeeds or limit has passed.
func writeUntilAccepted(ctx context.Context, clients []*agentcluster.KVClient, perAttempt, every, limit time.Duration) (writeResult, error) {
	var res writeResult
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for i := 0; ; i++ {
		begun := time.Now()
		kc := clients[i%len(clients)]
		actx, acancel := context.WithTimeout(ctx, perAttempt)
		err := kc.Put(actx, "bench-failover", []byte(strconv.Itoa(i)))
		acancel()
		res.attempts++
		if err == nil {
			res.at, res.via = time.Now(), i%len(clients)
			return res, nil
		}
		if ctx.Err() != nil {
			return res, fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			res.cut = append(res.cut, cutAttempt{via: i % len(clients), began: begun})
		}
		res.lastErr = err
		wait := time.NewTimer(time.Until(begun.Add(every)))
		select {
		case <-ctx.Done():
			wait.Stop()
			return res, fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-wait.C:
		}
	}
}

// crashSummaries are the medians and maxima of the crash repeats.
func crashSummaries(crashes []report.Crash, o options) []report.Repeated {
	if len(crashes) == 0 {
		return nil
	}
	var nonvoter, voter, dead, pruned, gap []float64
	for _, c := range crashes {
		nonvoter = append(nonvoter, c.NonVoterSeconds)
		voter = append(voter, c.VoterSeconds)
		dead = append(dead, c.DeadSeconds)
		pruned = append(pruned, c.PrunedSeconds)
		gap = append(gap, c.DeadToPrunedSeconds())
	}
	stab, reap := o.stabilizationOrDefault(), o.reapAfterOrDefault()
	nv := report.NewRepeated("agent run → non-voter", nonvoter, "a new agent joining the seed, until the leader lists it")
	nv.Target = &report.Target{Text: fmt.Sprintf("median ≤ %s", targetNonVoter), Met: nv.MedianSeconds <= targetNonVoter.Seconds()}
	v := report.NewRepeated("agent run → voter", voter, fmt.Sprintf("includes server_stabilization_time (%s)", stab))
	d := report.NewRepeated("kill -9 → dead in gossip", dead, "from the signal, as the leader's member list shows it")
	d.Target = medianBelow(d, targetDead)
	p := report.NewRepeated("kill -9 → pruned from Raft", pruned, "from the signal, until the leader's configuration lacks it")
	g := report.NewRepeated("dead → pruned", gap, fmt.Sprintf("pruned minus dead; dead_server_reap_after = %s", reap))
	limit := reap + targetPruneSlack
	g.Target = &report.Target{Text: fmt.Sprintf("median ≤ reap_after + %s = %s", targetPruneSlack, limit), Met: g.MedianSeconds <= limit.Seconds()}
	return []report.Repeated{nv, v, d, p, g}
}

// failoverSummaries are the medians and maxima of the failover repeats.
func failoverSummaries(fs []report.Failover) []report.Repeated {
	if len(fs) == 0 {
		return nil
	}
	var first, rejoin []float64
	attempts := make([]string, len(fs))
	for i, f := range fs {
		first = append(first, f.Seconds)
		rejoin = append(rejoin, f.RejoinSeconds)
		attempts[i] = strconv.Itoa(f.Attempts)
	}
	w := report.NewRepeated("kill -9 leader → first write", first, fmt.Sprintf(
		"from the signal; writes through the survivors in turn, %s per attempt, at most one per %s; attempts %s",
		attemptTimeout, pollEvery, strings.Join(attempts, ", ")))
	w.Target = &report.Target{
		Text: fmt.Sprintf("median < %s, max < %s", targetFailoverMedian, targetFailoverMax),
		Met:  w.MedianSeconds < targetFailoverMedian.Seconds() && w.MaxSeconds < targetFailoverMax.Seconds(),
	}
	j := report.NewRepeated("restart of the killed leader → whole", rejoin,
		"same config and data dir; 3 voters under one leader, all caught up and alive in its gossip")
	return []report.Repeated{w, j}
}

func medianBelow(r report.Repeated, limit time.Duration) *report.Target {
	return &report.Target{Text: fmt.Sprintf("median < %s", limit), Met: r.MedianSeconds < limit.Seconds()}
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

func secs(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}

// oneLine keeps an error (which may carry a log tail) on one line.
func oneLine(err error) string { return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ") }
