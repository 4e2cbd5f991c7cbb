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

// runAgent starts three agents under dir, runs the plan against the
// leader, then (with o.membership) the membership timings, and kills
// them. It fills in r.Agent, r.Timings and the membership results, and
// judges the single-client PUT against r.Reference.
func runAgent(ctx context.Context, binary, dir string, o options, r *report.Report) (err error) {
	fctx, cancel := context.WithTimeout(ctx, formTimeout)
	began := time.Now()
	c, err := agentcluster.Start(fctx, agentcluster.Options{Binary: binary, Dir: dir, Servers: 3, Autopilot: o.autopilotBlock()})
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

	side, leader, err := runKV(ctx, c, leader, o.plan)
	if err != nil {
		return err
	}
	r.Agent = *side
	if r.Reference != nil {
		for _, res := range side.Results {
			if res.Name == "put" && res.Clients == 1 {
				r.Reference.Judge(res.P50Ms)
			}
		}
		log.Print(r.Reference.Line())
	}
	if o.diskWrites > 0 {
		log.Printf("disk: %d writes with %d clients", o.diskWrites, o.diskClients)
		if r.Disk, err = measureDisk(ctx, c, leader, o.diskWrites, o.diskClients, o.plan.ValueSize); err != nil {
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

// runKV runs the plan's put and get levels against the leader and measures
// its memory. Around each level it reads every node's term and leader;
// should the leader change, the next levels go to the new one. It returns
// the leader at the end.
func runKV(ctx context.Context, c *agentcluster.Cluster, leader *agentcluster.Node, plan load.Plan) (*report.Side, *agentcluster.Node, error) {
	var err error

	side := &report.Side{System: "agent"}
	side.Memory.LoadClients = slices.Max(plan.Clients)
	if side.Memory.IdleRSSBytes, err = proc.RSS(leader.Pid()); err != nil {
		log.Printf("no idle RSS: %v", err)
	}

	value := load.Value(plan.ValueSize)
	var clients []*agentcluster.KVClient
	closeAll := func() {
		for _, kc := range clients {
			kc.Close()
		}
		clients = nil
	}
	defer closeAll()
	client := func() *agentcluster.KVClient {
		kc := agentcluster.NewKVClient(leader.URL)
		clients = append(clients, kc)
		return kc
	}
	putOp := func(worker int) (load.Op, error) {
		kc := client()
		return func(ctx context.Context, seq int) error {
			return kc.Put(ctx, load.PutKey(worker, seq), value)
		}, nil
	}
	getOp := func(worker int) (load.Op, error) {
		kc := client()
		return func(ctx context.Context, seq int) error {
			return kc.Get(ctx, load.GetKey(worker, seq))
		}, nil
	}
	// level runs one level between two readings of the terms, and moves
	// to a new leader should there be one.
	level := func(l load.Level, newOp func(int) (load.Op, error)) error {
		var stopRSS func() uint64
		if l.Name == "put" && l.Clients == side.Memory.LoadClients {
			stopRSS = proc.PeakRSS(leader.Pid(), 200*time.Millisecond)
		}
		before := readTerms(ctx, c)
		res, err := plan.RunLevel(ctx, l, newOp)
		after := readTerms(ctx, c)
		if stopRSS != nil {
			side.Memory.LoadRSSBytes = stopRSS()
		}
		closeAll()
		if err != nil {
			return err
		}
		logLevel(res)
		st := stability(l, before, after)
		side.Results = append(side.Results, res)
		side.Stability = append(side.Stability, st)
		if w := st.Warning(); w != "" {
			log.Printf("WARNING: %s", w)
		}
		if st.LeaderChanged() {
			if leader, err = waitLeader(ctx, c); err != nil {
				return err
			}
			log.Printf("the next levels go to the new leader %s", leader.ID)
		}
		return nil
	}

	for _, l := range plan.Levels("put") {
		if err := level(l, putOp); err != nil {
			return nil, nil, err
		}
	}
	pre := client()
	for i := range load.GetKeys {
		if err := pre.Put(ctx, load.GetKey(0, i), value); err != nil {
			return nil, nil, fmt.Errorf("preload: %w", err)
		}
	}
	closeAll()
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

// waitLeader polls until the running nodes agree on a leader.
func waitLeader(ctx context.Context, c *agentcluster.Cluster) (*agentcluster.Node, error) {
	var leader *agentcluster.Node
	err := poll(ctx, func() (bool, error) {
		var err error
		leader, err = c.Leader(ctx)
		return err == nil, nil
	})
	return leader, err
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

func logLevel(r load.Result) {
	msg := fmt.Sprintf("%s %d clients: %.0f ops/s, p50 %.2f ms, p99 %.2f ms", r.Name, r.Clients, r.OpsPerSec, r.P50Ms, r.P99Ms)
	if r.Errors > 0 {
		msg += fmt.Sprintf(", %d errors (first: %s)", r.Errors, r.FirstError)
	}
	log.Print(msg)
}
