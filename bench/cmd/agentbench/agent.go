package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"
	"time"

	"github.com/clusteragent/agent/bench/agentcluster"
	"github.com/clusteragent/agent/bench/baseline"
	"github.com/clusteragent/agent/bench/etcdwrap"
	"github.com/clusteragent/agent/bench/load"
	"github.com/clusteragent/agent/bench/proc"
	"github.com/clusteragent/agent/bench/report"
)

// formTimeout bounds the wait for three voters under one leader.
const formTimeout = 2 * time.Minute

// Sizes for the reference: an append about a Raft log entry of a 256-byte
// PUT, a round trip about a small request.
const (
	referenceAppendBytes = 300
	referenceRTTBytes    = 256
)

// etcdRival is what the etcd rounds run with: the binaries and the
// directory for the members' data and logs.
type etcdRival struct {
	bins etcdwrap.Binaries
	dir  string
}

// runAgent starts three agents under dir, runs the plan's rounds against
// the leader (each followed by etcd's round, with a rival), then (with
// o.membership) the membership timings, and kills them. It fills in
// r.Agent, r.Etcd, r.Timings and the membership results, and judges the
// single-client PUT against r.Reference.
func runAgent(ctx context.Context, binary, dir string, o options, r *report.Report, rival *etcdRival) (err error) {
	fctx, cancel := context.WithTimeout(ctx, formTimeout)
	began := time.Now()
	c, err := agentcluster.Start(fctx, agentcluster.Options{Binary: binary, Dir: dir, Servers: 3, Configure: o.configure,
		LogStore: o.logStore, EnableDebug: o.profileDir != ""})
	cancel()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	leader, err := c.Leader(ctx)
	if err != nil {
		return err
	}
	formed := time.Since(began)
	log.Printf("3 agents formed in %s, leader %s", formed.Round(time.Millisecond), leader.ID)
	r.Timings = append(r.Timings, report.Timing{Name: "3 × agent run → 3 voters", Seconds: formed.Seconds(),
		Note: "bootstrap_expect = 3, started together"})

	if r.Agent.Memory.IdleRSSBytes, err = proc.RSS(leader.Pid()); err != nil {
		log.Printf("no idle RSS: %v", err)
	}
	if leader, err = runRounds(ctx, c, leader, o, r, rival); err != nil {
		return err
	}
	if r.Reference != nil {
		for _, l := range r.Levels() {
			if l.Name == "put" && l.Clients == 1 {
				r.Reference.Judge(l.Agent.P50Ms)
				r.Reference.PutRounds = l.Agent.Rounds
			}
		}
		log.Print(r.Reference.Line())
	}
	if o.diskWrites > 0 {
		log.Printf("disk: %d writes with %d clients", o.diskWrites, o.diskClients)
		if r.Disk, err = measureDisk(ctx, c, leader, o.diskWrites, o.diskClients, o.plan.ValueSize, o.logStore); err != nil {
			return err
		}
	}
	if !o.membership {
		return nil
	}
	return measureMembership(ctx, c, o, r)
}

// measureReference measures the machine's floor for a replicated write:
// appends with fdatasync in dir, and loopback round trips.
func measureReference(ctx context.Context, dir string, n int) (*report.Reference, error) {
	log.Printf("reference: %d appends of %d bytes with fdatasync, %d loopback round trips", n, referenceAppendBytes, n)
	fs, err := baseline.Fsync(ctx, dir, n, referenceAppendBytes)
	if err != nil {
		return nil, err
	}
	rtt, err := baseline.LoopbackRTT(ctx, n, referenceRTTBytes)
	if err != nil {
		return nil, err
	}
	ref := &report.Reference{
		Fsyncs: fs.N, FsyncBytes: referenceAppendBytes, FsyncMedianMs: ms(fs.Median), FsyncP99Ms: ms(fs.P99),
		RTTs: rtt.N, RTTBytes: referenceRTTBytes, RTTMedianMs: ms(rtt.Median),
	}
	ref.SetFloor()
	return ref, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// runRounds runs o.rounds rounds of the plan's put and get levels on c,
// each followed, with a rival, by etcd's round, and adds them to r. etcd
// is started once, after the agents have formed, and kept up across the
// rounds as the agents are: both clusters then carry the writes of the
// rounds before, and each runs its load beside the other idle. It is
// stopped before the membership timings. It returns the agents' leader.
func runRounds(ctx context.Context, c *agentcluster.Cluster, leader *agentcluster.Node, o options, r *report.Report, rival *etcdRival) (_ *agentcluster.Node, err error) {
	var etcd *etcdwrap.Cluster
	if rival != nil {
		log.Printf("starting etcd %s beside the agents", rival.bins.Version)
		if etcd, err = etcdwrap.Start(ctx, rival.bins, rival.dir, o.plan); err != nil {
			return nil, err
		}
		defer func() { err = errors.Join(err, etcd.Close()) }()
		r.Etcd = &report.Side{System: etcd.Idle.System, Version: etcd.Idle.Version, Memory: etcd.Idle.Memory}
	}
	for round := 1; round <= o.rounds; round++ {
		tag := ""
		if o.rounds > 1 {
			tag = fmt.Sprintf("round %d of %d: ", round, o.rounds)
		}
		if round > 1 {
			// etcd's round, or the previous round's last level, may have
			// seen an election that no level's readings caught.
			now, err := waitLeader(ctx, c)
			if err != nil {
				return nil, err
			}
			if now.ID != leader.ID {
				msg := fmt.Sprintf("the agents' leader changed between rounds %d and %d: %s → %s", round-1, round, leader.ID, now.ID)
				log.Printf("WARNING: %s", msg)
				r.Notes = append(r.Notes, msg)
			}
			leader = now
		}
		if tag != "" {
			log.Printf("%sagents", tag)
		}
		side, next, err := runKV(ctx, c, leader, o.plan, tag, profiler{dir: o.profileDir, round: round})
		if err != nil {
			return nil, err
		}
		leader = next
		r.Agent.AddRound(round, side)
		if etcd != nil {
			log.Printf("%setcd %s", tag, rival.bins.Version)
			es, err := etcd.Round()
			if err != nil {
				return nil, err
			}
			r.Etcd.AddRound(round, es)
		}
	}
	return leader, nil
}

// runKV runs the plan's put and get levels against the leader and measures
// its memory under the largest put load. Around each level it reads every
// node's term and leader; should the leader change, the next levels go to
// the new one. It returns the leader at the end. tag starts its log lines.
func runKV(ctx context.Context, c *agentcluster.Cluster, leader *agentcluster.Node, plan load.Plan, tag string, prof profiler) (*report.Side, *agentcluster.Node, error) {
	side := &report.Side{System: "agent"}
	side.Memory.LoadClients = slices.Max(plan.Clients)

	value := load.Value(plan.ValueSize)
	pool := &kvPool{base: leader.URL}
	defer pool.closeAll()
	putOp, getOp := pool.putOp(value), pool.getOp
	// level runs one level between two readings of the terms, and moves
	// to a new leader should there be one.
	level := func(l load.Level, newOp func(int) (load.Op, error)) error {
		var stopRSS func() uint64
		if l.Name == "put" && l.Clients == side.Memory.LoadClients {
			stopRSS = proc.PeakRSS(leader.Pid(), 200*time.Millisecond)
		}
		waitProfile := func() {}
		if prof.wanted(plan, l) {
			waitProfile = prof.start(ctx, leader, plan, l)
		}
		before := readTerms(ctx, c)
		res, err := plan.RunLevel(ctx, l, newOp)
		after := readTerms(ctx, c)
		waitProfile()
		if stopRSS != nil {
			side.Memory.LoadRSSBytes = stopRSS()
		}
		pool.closeAll()
		if err != nil {
			return err
		}
		logLevel(tag, res)
		st := stability(l, before, after)
		side.Results = append(side.Results, res)
		side.Stability = append(side.Stability, st)
		if w := st.Warning(); w != "" {
			log.Printf("WARNING: %s%s", tag, w)
		}
		if st.LeaderChanged() {
			if leader, err = waitLeader(ctx, c); err != nil {
				return err
			}
			pool.base = leader.URL
			log.Printf("%sthe next levels go to the new leader %s", tag, leader.ID)
		}
		return nil
	}

	for _, l := range plan.Levels("put") {
		if err := level(l, putOp); err != nil {
			return nil, nil, err
		}
	}
	pre, err := pool.client()
	if err != nil {
		return nil, nil, err
	}
	for i := range load.GetKeys {
		if _, err := pre.KVPut(ctx, load.GetKey(0, i), value, nil); err != nil {
			return nil, nil, fmt.Errorf("preload: %w", err)
		}
	}
	pool.closeAll()
	for _, l := range plan.Levels("get") {
		if err := level(l, getOp); err != nil {
			return nil, nil, err
		}
	}
	if err := leader.Exited(); err != nil {
		return nil, nil, err
	}
	return side, leader, nil
}

// waitLeader waits, at most membershipTimeout, until the running nodes
// agree on a leader.
func waitLeader(ctx context.Context, c *agentcluster.Cluster) (*agentcluster.Node, error) {
	ctx, cancel := context.WithTimeout(ctx, membershipTimeout)
	defer cancel()
	return c.WaitLeader(ctx)
}

// termReading is one node's status, or why it could not be read.
type termReading struct {
	id  string
	st  agentcluster.Status
	err error
}

// readTerms reads every running node's status, one after another.
func readTerms(ctx context.Context, c *agentcluster.Cluster) []termReading {
	var out []termReading
	for _, n := range c.Running() {
		st, err := agentcluster.NodeStatus(ctx, n)
		out = append(out, termReading{id: n.ID, st: st, err: err})
	}
	return out
}

// stability compares the readings before and after a level: the highest
// term either time, and the node that reported itself leader in the
// highest term (a deposed leader that has not noticed yet reports a lower
// one).
func stability(l load.Level, before, after []termReading) report.Stability {
	s := report.Stability{Name: l.Name, Clients: l.Clients}
	unanswered := map[string]bool{}
	summarise := func(rs []termReading) (term uint64, leader string) {
		var leaderTerm uint64
		for _, r := range rs {
			if r.err != nil {
				unanswered[r.id] = true
				continue
			}
			term = max(term, r.st.Term)
			if r.st.State == "leader" && r.st.Term >= leaderTerm {
				leader, leaderTerm = r.id, r.st.Term
			}
		}
		return term, leader
	}
	s.TermBefore, s.LeaderBefore = summarise(before)
	s.TermAfter, s.LeaderAfter = summarise(after)
	for id := range unanswered {
		s.Unanswered = append(s.Unanswered, id)
	}
	slices.Sort(s.Unanswered)
	return s
}

func logLevel(tag string, r load.Result) {
	msg := tag + fmt.Sprintf("%s %d clients: %.0f ops/s, p50 %.2f ms, p99 %.2f ms", r.Name, r.Clients, r.OpsPerSec, r.P50Ms, r.P99Ms)
	if r.Errors > 0 {
		msg += fmt.Sprintf(", %d errors (first: %s)", r.Errors, r.FirstError)
	}
	log.Print(msg)
}
