// Package applybench measures raftnode.Apply the way a Go program that
// embeds raftnode uses it: three nodes in this process, on loopback TCP,
// with real BoltDB stores in a temp dir and the LAN timers, and a state
// machine that only counts, so what is measured is raftnode and raft, not
// an application's FSM.
package applybench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clusteragent/agent/bench/load"
	"github.com/clusteragent/agent/raftnode"
)

// Name is the operation's name in results.
const Name = "raftnode.Apply"

// Run starts three raftnode nodes under dir, runs a put level of plan per
// client count through the leader's Apply (each worker a goroutine), and
// closes the nodes. logStore is the nodes' raftnode.Options.LogStore.
func Run(ctx context.Context, dir string, plan load.Plan, logStore string) (_ []load.Result, err error) {
	nodes, err := start(dir, 3, logStore)
	defer func() {
		for _, n := range nodes {
			err = errors.Join(err, n.Close())
		}
	}()
	if err != nil {
		return nil, err
	}
	leader, err := waitLeader(ctx, nodes)
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(string(load.Value(plan.ValueSize)))
	if err != nil {
		return nil, err
	}
	op := func(int) (load.Op, error) {
		return func(ctx context.Context, _ int) error {
			_, err := leader.Apply(ctx, raftnode.Mutation{Type: "bench.put", Payload: payload})
			return err
		}, nil
	}
	var out []load.Result
	for _, l := range plan.Levels(Name) {
		res, err := plan.RunLevel(ctx, l, op)
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

// start opens n nodes with a static peer set; the lowest ID bootstraps.
func start(dir string, n int, logStore string) ([]*raftnode.Node, error) {
	listeners := make([]net.Listener, n)
	peers := map[string]string{}
	for i := range listeners {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, l := range listeners[:i] {
				l.Close()
			}
			return nil, err
		}
		listeners[i] = l
		peers[id(i)] = l.Addr().String()
	}
	var nodes []*raftnode.Node
	for i, l := range listeners {
		node, err := raftnode.NewNode(raftnode.Options{
			NodeID:   id(i),
			Listener: l,
			DataDir:  filepath.Join(dir, id(i)),
			FSM:      &countingFSM{},
			Peers:    peers,
			LogStore: logStore,
		})
		if err != nil {
			// NewNode closed its listener; the rest are still ours.
			for _, l := range listeners[i+1:] {
				l.Close()
			}
			return nodes, fmt.Errorf("applybench: node %s: %w", id(i), err)
		}
		nodes = append(nodes, node)
	}
	return nodes, nil
}

func id(i int) string { return fmt.Sprintf("a%d", i+1) }

// waitLeader waits until one node leads and all of them know it.
func waitLeader(ctx context.Context, nodes []*raftnode.Node) (*raftnode.Node, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var leader *raftnode.Node
		agreed := true
		for _, n := range nodes {
			if n.IsLeader() {
				leader = n
			}
			if n.LeaderID() == "" || n.LeaderID() != nodes[0].LeaderID() {
				agreed = false
			}
		}
		if leader != nil && agreed {
			return leader, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("applybench: no leader: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// countingFSM counts applied entries and keeps nothing else.
type countingFSM struct{ applied atomic.Uint64 }

func (f *countingFSM) Apply(*raft.Log) any {
	f.applied.Add(1)
	return nil
}

func (f *countingFSM) Snapshot() (raft.FSMSnapshot, error) {
	return countSnapshot(f.applied.Load()), nil
}

func (f *countingFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var n uint64
	if err := json.NewDecoder(rc).Decode(&n); err != nil {
		return err
	}
	f.applied.Store(n)
	return nil
}

type countSnapshot uint64

func (s countSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(uint64(s)); err != nil {
		return errors.Join(err, sink.Cancel())
	}
	return sink.Close()
}

func (countSnapshot) Release() {}
