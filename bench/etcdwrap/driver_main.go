//go:build ignore

// This is the etcd load driver. It is not part of the agent's module: it
// is embedded into etcdwrap and built in the throwaway module that also
// builds etcd, so only that module depends on etcd's client. It starts a
// three-member etcd on loopback and prints a report.Side as one line of
// JSON on stdout with the leader's idle memory. Then for every line on
// stdin it runs the plan once through clientv3, one client per worker
// against the leader, and prints that round's report.Side as one line.
// At the end of stdin it kills the members and exits. Its own messages go
// to stderr.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/clusteragent/agent/bench/load"
	"github.com/clusteragent/agent/bench/proc"
	"github.com/clusteragent/agent/bench/report"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func main() {
	etcdBin := flag.String("etcd", "", "etcd binary")
	dir := flag.String("dir", "", "directory for the members' data and logs (must exist)")
	clients := flag.String("clients", "1,16,64", "client counts")
	warmup := flag.Duration("warmup", time.Second, "warm-up per level")
	duration := flag.Duration("duration", 5*time.Second, "measured time per level")
	valueSize := flag.Int("value-size", 256, "value size in bytes")
	version := flag.String("version", "", "etcd version, for the report")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("etcdload: ")
	cs, err := load.ParseClients(*clients)
	if err != nil || *etcdBin == "" || *dir == "" {
		log.Fatalf("usage: etcdload -etcd BIN -dir DIR [flags] (%v)", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	plan := load.Plan{Clients: cs, Warmup: *warmup, Duration: *duration, ValueSize: *valueSize}
	if err := run(ctx, *etcdBin, *dir, *version, plan, os.Stdin, json.NewEncoder(os.Stdout)); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

// member is one etcd process.
type member struct {
	name      string
	clientURL string
	p         *proc.Process
}

// run starts the members, says so on out, runs a round for every line of
// in until it ends, and kills the members.
func run(ctx context.Context, etcdBin, dir, version string, plan load.Plan, in io.Reader, out *json.Encoder) (err error) {
	members, err := startEtcd(etcdBin, dir, 3)
	defer func() {
		kctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, m := range members {
			err = errors.Join(err, m.p.Kill(kctx))
		}
	}()
	if err != nil {
		return err
	}
	leader, err := waitLeaderFor(ctx, members, 2*time.Minute)
	if err != nil {
		return err
	}
	log.Printf("3 members formed, leader %s", leader.name)
	idle := report.Side{System: "etcd", Version: version}
	idle.Memory.IdleRSSBytes, _ = proc.RSS(leader.p.Pid())
	idle.Memory.LoadClients = slices.Max(plan.Clients)
	if err := out.Encode(idle); err != nil {
		return err
	}

	lines := make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case _, ok := <-lines:
			if !ok {
				return nil
			}
		}
		// The leader may have moved while the agents had their round.
		if leader, err = waitLeaderFor(ctx, members, 30*time.Second); err != nil {
			return err
		}
		side, err := round(ctx, leader, plan)
		if err != nil {
			return err
		}
		side.Version = version
		if err := out.Encode(side); err != nil {
			return err
		}
	}
}

func waitLeaderFor(ctx context.Context, members []*member, d time.Duration) (*member, error) {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return waitLeader(wctx, members)
}

// round runs the plan's put levels, then its get levels over preloaded
// keys, against leader.
func round(ctx context.Context, leader *member, plan load.Plan) (side report.Side, err error) {
	side.System = "etcd"
	side.Memory.LoadClients = slices.Max(plan.Clients)

	value := string(load.Value(plan.ValueSize))
	newClient := func() (*clientv3.Client, error) {
		return clientv3.New(clientv3.Config{Endpoints: []string{leader.clientURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	}
	var opened []*clientv3.Client
	closeAll := func() {
		for _, c := range opened {
			c.Close()
		}
		opened = nil
	}
	defer closeAll()
	putOp := func(worker int) (load.Op, error) {
		c, err := newClient()
		if err != nil {
			return nil, err
		}
		opened = append(opened, c)
		return func(ctx context.Context, seq int) error {
			_, err := c.Put(ctx, load.PutKey(worker, seq), value)
			return err
		}, nil
	}
	getOp := func(worker int) (load.Op, error) {
		c, err := newClient()
		if err != nil {
			return nil, err
		}
		opened = append(opened, c)
		return func(ctx context.Context, seq int) error {
			resp, err := c.Get(ctx, load.GetKey(worker, seq))
			if err == nil && len(resp.Kvs) != 1 {
				err = fmt.Errorf("get %s: %d keys: %w", load.GetKey(worker, seq), len(resp.Kvs), load.ErrStatus)
			}
			return err
		}, nil
	}
	for _, l := range plan.Levels("put") {
		var stopRSS func() uint64
		if l.Clients == side.Memory.LoadClients {
			stopRSS = proc.PeakRSS(leader.p.Pid(), 200*time.Millisecond)
		}
		res, err := plan.RunLevel(ctx, l, putOp)
		if stopRSS != nil {
			side.Memory.LoadRSSBytes = stopRSS()
		}
		closeAll()
		if err != nil {
			return side, err
		}
		log.Printf("put %d clients: %.0f ops/s p99 %.2f ms", l.Clients, res.OpsPerSec, res.P99Ms)
		side.Results = append(side.Results, res)
	}
	pre, err := newClient()
	if err != nil {
		return side, err
	}
	opened = append(opened, pre)
	for i := range load.GetKeys {
		if _, err := pre.Put(ctx, load.GetKey(0, i), value); err != nil {
			return side, fmt.Errorf("preload: %w", err)
		}
	}
	closeAll()
	for _, l := range plan.Levels("get") {
		res, err := plan.RunLevel(ctx, l, getOp)
		closeAll()
		if err != nil {
			return side, err
		}
		log.Printf("get %d clients: %.0f ops/s p99 %.2f ms", l.Clients, res.OpsPerSec, res.P99Ms)
		side.Results = append(side.Results, res)
	}
	return side, nil
}

// startEtcd starts n members that form one new cluster on loopback.
func startEtcd(bin, dir string, n int) ([]*member, error) {
	ports, err := proc.FreePorts(2*n, nil)
	if err != nil {
		return nil, err
	}
	var initial []string
	for i := range n {
		initial = append(initial, fmt.Sprintf("e%d=http://%s", i+1, proc.HostPort(ports[2*i+1])))
	}
	var members []*member
	for i := range n {
		name := fmt.Sprintf("e%d", i+1)
		clientURL := "http://" + proc.HostPort(ports[2*i])
		peerURL := "http://" + proc.HostPort(ports[2*i+1])
		args := []string{
			"--name", name,
			"--data-dir", filepath.Join(dir, name),
			"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
			"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new", "--initial-cluster-token", "bench",
			"--log-level", "warn",
		}
		p, err := proc.Start(name, bin, args, filepath.Join(dir, name+".log"))
		if err != nil {
			return members, err
		}
		members = append(members, &member{name: name, clientURL: clientURL, p: p})
	}
	return members, nil
}

// waitLeader polls every member's status until all name the same leader,
// and returns it.
func waitLeader(ctx context.Context, members []*member) (*member, error) {
	var eps []string
	for _, m := range members {
		eps = append(eps, m.clientURL)
	}
	// The client's own logger would report every refused dial while the
	// members start; the wait's error says what matters.
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		leader, err := leaderOnce(ctx, c, members)
		if err == nil {
			return leader, nil
		}
		last = err
		for _, m := range members {
			if exit := m.p.Exited(); exit != nil {
				return nil, exit
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("etcd did not elect a leader: %w (last: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

func leaderOnce(ctx context.Context, c *clientv3.Client, members []*member) (*member, error) {
	var leaderID uint64
	var leader *member
	for _, m := range members {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := c.Status(sctx, m.clientURL)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
		if st.Leader == 0 || (leaderID != 0 && st.Leader != leaderID) {
			return nil, fmt.Errorf("%s sees leader %x, others %x", m.name, st.Leader, leaderID)
		}
		leaderID = st.Leader
		if st.Header.MemberId == st.Leader {
			leader = m
		}
	}
	if leader == nil {
		return nil, errors.New("no member says it is the leader")
	}
	return leader, nil
}
