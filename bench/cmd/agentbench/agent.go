package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"
	"time"

	"github.com/clusteragent/agent/bench/agentcluster"
	"github.com/clusteragent/agent/bench/load"
	"github.com/clusteragent/agent/bench/proc"
	"github.com/clusteragent/agent/bench/report"
)

// formTimeout bounds the wait for three voters under one leader.
const formTimeout = 2 * time.Minute

// runAgent starts three agents under dir, runs the plan against the
// leader, then (with o.membership) the membership timings, and kills
// them. It fills in r.Agent and r.Timings.
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

	side, err := runKV(ctx, leader, o.plan)
	if err != nil {
		return err
	}
	r.Agent = *side
	if o.diskWrites > 0 {
		log.Printf("disk: %d writes with %d clients", o.diskWrites, o.diskClients)
		if r.Disk, err = measureDisk(ctx, c, leader, o.diskWrites, o.diskClients, o.plan.ValueSize); err != nil {
			return err
		}
	}
	if !o.membership {
		return nil
	}
	timings, err := measureMembership(ctx, c)
	if err != nil {
		return err
	}
	r.Timings = append(r.Timings, timings...)
	return nil
}

// runKV runs the plan's put and get levels against leader and measures its
// memory.
func runKV(ctx context.Context, leader *agentcluster.Node, plan load.Plan) (*report.Side, error) {
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

	for _, l := range plan.Levels("put") {
		var stopRSS func() uint64
		if l.Clients == side.Memory.LoadClients {
			stopRSS = proc.PeakRSS(leader.Pid(), 200*time.Millisecond)
		}
		res, err := plan.RunLevel(ctx, l, putOp)
		if stopRSS != nil {
			side.Memory.LoadRSSBytes = stopRSS()
		}
		closeAll()
		if err != nil {
			return nil, err
		}
		logLevel(res)
		side.Results = append(side.Results, res)
	}
	pre := client()
	for i := range load.GetKeys {
		if err := pre.Put(ctx, load.GetKey(0, i), value); err != nil {
			return nil, fmt.Errorf("preload: %w", err)
		}
	}
	closeAll()
	for _, l := range plan.Levels("get") {
		res, err := plan.RunLevel(ctx, l, getOp)
		closeAll()
		if err != nil {
			return nil, err
		}
		logLevel(res)
		side.Results = append(side.Results, res)
	}
	if err := leader.Exited(); err != nil {
		return nil, err
	}
	return side, nil
}

func logLevel(r load.Result) {
	msg := fmt.Sprintf("%s %d clients: %.0f ops/s, p50 %.2f ms, p99 %.2f ms", r.Name, r.Clients, r.OpsPerSec, r.P50Ms, r.P99Ms)
	if r.Errors > 0 {
		msg += fmt.Sprintf(", %d errors (first: %s)", r.Errors, r.FirstError)
	}
	log.Print(msg)
}
