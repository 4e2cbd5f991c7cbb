// Command agentbench is the agent's performance suite. On three agent
// processes of the built binary on loopback (bootstrap_expect = 3, default
// timers) it measures:
//
//   - PUT /v1/kv and linearizable GET throughput and p50/p99/max latency at
//     each client count (-clients, default 1,16,64), each client a worker
//     with its own keep-alive connection to the leader, for a fixed time
//     per level (-duration after -warmup);
//   - the leader's resident memory idle and under the heaviest put load;
//   - the Raft term and leader of every node just before and just after each
//     load level: elections during load;
//   - the machine's own floor for a replicated write, measured before the
//     agents start: the median of small appends with fdatasync on the
//     filesystem of the data dirs and of loopback TCP round trips; two
//     fsyncs plus a round trip, times 1.5, is the single-client PUT target
//     (-reference-fsyncs);
//   - with -disk-writes N, raft.db and snapshot sizes after N writes;
//   - the membership timings (-membership), each repeated: -crashes fourth
//     agents from exec to non-voter and to voter, then kill -9 to dead in
//     gossip and to pruned from Raft; -failovers kills of the leader with
//     kill -9, to the first write through a survivor, each followed by a
//     restart of the killed agent until the cluster is whole again; with
//     medians and maxima against the targets;
//
// then, in this process, the put levels through raftnode.Apply on three
// raftnode nodes (-apply), as a Go program embedding raftnode sees it, and
// gossip at scale (-gossip 50,200: gossip-only agents joining one seed at
// once, time until every agent sees all alive, and kill -9 to dead; with
// -gossip-clients N, three servers and N gossip-only agents, with idle
// client CPU and RSS and every client's exit after SIGTERM; -gossip-inproc,
// in-process discovery pools with their cost per member).
//
// SIGINT or SIGTERM ends the running step within a second or two; the
// tables of what was measured so far are printed and written.
//
// With -etcd it first builds etcd (default v3.7.3) from the module proxy in
// a throwaway module in the temp dir, and drives a three-member etcd on
// loopback with the same plan through etcd's Go client, right after our
// levels; the table then shows etcd's figures and the ratios ours/etcd,
// judged against the targets.
//
// With -rounds N the put and get levels run N times, each round ours and
// then etcd's, on the same two clusters; the table shows the medians over
// the rounds and the median (and range) of the per-round ratios.
//
// It prints the tables and writes them as Markdown and JSON into -out.
// Measurements run one after another, never alongside a build or each
// other. Everything it starts is killed, and its temp dir removed, when it
// ends, on error and on Ctrl-C too.
//
// Usage (from the repository root; make bench-suite and make bench-etcd
// run it on bin/agent):
//
//	go run ./bench/cmd/agentbench [-binary bin/agent] [-etcd] [flags]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/bench/applybench"
	"github.com/clusteragent/agent/bench/etcdwrap"
	"github.com/clusteragent/agent/bench/load"
	"github.com/clusteragent/agent/bench/report"
	"github.com/clusteragent/agent/internal/buildagent"
)

// options are the command's flags.
type options struct {
	binary      string
	out         string
	etcd        bool
	etcdVersion string
	keep        bool
	plan        load.Plan
	// rounds is how many times the put and get levels run, each time ours
	// and then (with etcd) etcd's, so that drift on a shared machine
	// weighs on both alike; the report gives the medians.
	rounds int
	// membership runs the membership timings after the load: crashes
	// fourth agents killed and pruned, then failovers leader kills.
	membership         bool
	crashes, failovers int
	// referenceFsyncs is how many appends with fdatasync (and loopback
	// round trips) the reference for the single-client target takes; 0
	// skips it.
	referenceFsyncs int
	// apply runs the plan's levels through raftnode.Apply in process.
	apply bool
	// gossip are the sizes of the gossip pools to time; none: skip.
	gossip []int
	// gossipInproc are the sizes of the in-process discovery pools to time.
	gossipInproc []int
	// gossipClients, when positive, is how many gossip-only agents join
	// three servers at once.
	gossipClients int
	// diskWrites, when positive, is how many writes the disk measurement
	// makes, with diskClients clients.
	diskWrites, diskClients int
	// stabilization and reapAfter override the autopilot defaults when
	// non-zero.
	stabilization, reapAfter time.Duration
	// watchers, when positive, runs the watcher stage with that many idle
	// blocking reads; watchersOnly runs nothing else.
	watchers     int
	watchersOnly bool
	// logStore is the agents' raft.log_store.
	logStore string
	// profileDir, when set, receives CPU profiles of the leader under the
	// largest put and get levels of the first round.
	profileDir string
}

// configure applies the autopilot timers the options override to an
// agent's config; the rest stays at the agent's defaults.
func (o options) configure(c *agent.Config) {
	if o.stabilization > 0 {
		c.Autopilot.ServerStabilizationTime = o.stabilization
	}
	if o.reapAfter > 0 {
		c.Autopilot.DeadServerReapAfter = o.reapAfter
	}
}

func (o options) stabilizationOrDefault() time.Duration {
	if o.stabilization > 0 {
		return o.stabilization
	}
	return defaultStabilization
}

func (o options) reapAfterOrDefault() time.Duration {
	if o.reapAfter > 0 {
		return o.reapAfter
	}
	return defaultReapAfter
}

// notes say which settings differ from the agent's defaults.
func (o options) notes() []string {
	var out []string
	if o.stabilization > 0 {
		out = append(out, fmt.Sprintf("server_stabilization_time = %s (default %s)", o.stabilization, defaultStabilization))
	}
	if o.reapAfter > 0 {
		out = append(out, fmt.Sprintf("dead_server_reap_after = %s (default %s)", o.reapAfter, defaultReapAfter))
	}
	if len(out) == 0 && o.membership {
		out = append(out, "autopilot timers at their defaults (server_stabilization_time 10s, dead_server_reap_after 30s)")
	}
	return out
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("agentbench: ")
	var o options
	var clients, gossip, gossipInproc string
	flag.StringVar(&o.binary, "binary", "", "agent binary to run (default: build ./cmd/agent with CGO_ENABLED=0 into the temp dir)")
	flag.StringVar(&o.out, "out", filepath.Join("results", "bench"), "directory for the Markdown and JSON results")
	flag.BoolVar(&o.etcd, "etcd", false, "also build etcd and run the same load against it, for ours/etcd ratios")
	flag.StringVar(&o.etcdVersion, "etcd-version", etcdwrap.DefaultVersion, "etcd version to build from the module proxy")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (logs, data) instead of removing it")
	flag.StringVar(&clients, "clients", "1,16,64", "concurrent client counts, comma-separated")
	flag.DurationVar(&o.plan.Duration, "duration", 5*time.Second, "measured time per operation and client count")
	flag.DurationVar(&o.plan.Warmup, "warmup", time.Second, "unmeasured warm-up before each level")
	flag.IntVar(&o.plan.ValueSize, "value-size", 256, "PUT value size in bytes")
	flag.IntVar(&o.rounds, "rounds", 1, "rounds of the PUT and GET levels, each ours then etcd's (with -etcd); the table shows medians over the rounds")
	flag.BoolVar(&o.apply, "apply", true, "also run the put levels through raftnode.Apply on three in-process nodes")
	flag.IntVar(&o.diskWrites, "disk-writes", 0, "after the load, make this many writes and report raft.db and snapshot sizes (0: skip; the issue's figure is 1000000)")
	flag.StringVar(&o.profileDir, "profile", "", "`DIR` for CPU profiles of the leader under the largest put and get levels of round 1 (turns on http.enable_debug)")
	flag.StringVar(&o.logStore, "log-store", "wal", "the agents' Raft log store: wal or boltdb")
	flag.IntVar(&o.diskClients, "disk-clients", 64, "clients for -disk-writes")
	flag.StringVar(&gossip, "gossip", "50", "sizes of the gossip pools to time, comma-separated (\"\": skip)")
	flag.StringVar(&gossipInproc, "gossip-inproc", "200", "sizes of the in-process discovery pools to time (lan profile), comma-separated (\"\": skip)")
	flag.IntVar(&o.gossipClients, "gossip-clients", 0, "start 3 servers and this many gossip-only agents (server = false) joining at once: convergence, Raft holds only the servers, a killed client to dead, idle client CPU and RSS, exit after SIGTERM (0: skip)")
	flag.BoolVar(&o.membership, "membership", true, "after the load, time new agents to voter, kill -9 to dead and pruned (-crashes), and leader kill -9 to first write (-failovers)")
	flag.IntVar(&o.crashes, "crashes", 3, "fourth agents to start, kill -9 and see pruned, one after another (each waits the reap delay)")
	flag.IntVar(&o.failovers, "failovers", 5, "leader kill -9s, each timed to the first write and followed by a restart of the killed agent")
	flag.IntVar(&o.referenceFsyncs, "reference-fsyncs", 2000, "appends with fdatasync, and loopback round trips, for the single-client PUT reference (0: skip)")
	flag.DurationVar(&o.stabilization, "stabilization", 0, "autopilot server_stabilization_time for the agents (0: the default)")
	flag.DurationVar(&o.reapAfter, "reap-after", 0, "autopilot dead_server_reap_after for the agents (0: the default)")
	flag.IntVar(&o.watchers, "watchers", 0, "idle blocking reads to hold on one agent for the watcher stage: memory and CPU while idle, answers and latency per write (0: skip; the issue's figure is 10000)")
	flag.BoolVar(&o.watchersOnly, "watchers-only", false, "run only the watcher stage (with -watchers)")
	flag.Parse()
	var err error
	if o.plan.Clients, err = load.ParseClients(clients); err != nil {
		log.Print(err)
		os.Exit(2)
	}
	o.gossipInproc = parseSizes("-gossip-inproc", gossipInproc)
	o.gossip = parseSizes("-gossip", gossip)
	if o.watchers < 0 || (o.watchersOnly && o.watchers == 0) {
		log.Print("-watchers must not be negative, and -watchers-only needs -watchers")
		os.Exit(2)
	}
	if o.plan.Duration <= 0 || o.plan.Warmup < 0 || o.plan.ValueSize < 1 || o.rounds < 1 || o.crashes < 0 || o.failovers < 0 || o.referenceFsyncs < 0 || o.gossipClients < 0 || flag.NArg() > 0 {
		log.Print("-duration, -value-size and -rounds must be positive, -warmup, -crashes, -failovers and -reference-fsyncs not negative, and no arguments")
		os.Exit(2)
	}
	if o.logStore != "wal" && o.logStore != "boltdb" {
		log.Printf("-log-store %q: must be wal or boltdb", o.logStore)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		log.Print(err)
		stop()
		os.Exit(1)
	}
}

// buildAll builds etcd (with -etcd) and the agent (without -binary)
// under tmp, before any measurement so no compiler competes with one, and
// returns the agent binary's absolute path.
func buildAll(ctx context.Context, tmp string, o options) (etcdBins etcdwrap.Binaries, binary string, err error) {
	root, err := buildagent.ModuleRoot(ctx)
	if err != nil {
		return etcdBins, "", err
	}

	if o.etcd {
		wrap := filepath.Join(tmp, "etcdwrap")
		if err := os.Mkdir(wrap, 0o700); err != nil {
			return etcdBins, "", err
		}
		log.Printf("building etcd %s in a throwaway module", o.etcdVersion)
		began := time.Now()
		if etcdBins, err = etcdwrap.Build(ctx, wrap, root, o.etcdVersion); err != nil {
			return etcdBins, "", err
		}
		log.Printf("built etcd in %s", time.Since(began).Round(time.Second))
	}
	binary = o.binary
	if binary == "" {
		log.Print("building ./cmd/agent")
		binDir := filepath.Join(tmp, "bin")
		if err := os.Mkdir(binDir, 0o700); err != nil {
			return etcdBins, "", err
		}
		binary = filepath.Join(binDir, "agent")
		if err = buildagent.Binary(ctx, root, binary, ""); err != nil {
			return etcdBins, "", err
		}
	}
	binary, err = filepath.Abs(binary)
	return etcdBins, binary, err
}

// parseSizes parses a comma-separated list of pool sizes ("": none),
// exiting 2 on a bad one.
func parseSizes(flagName, v string) []int {
	if v == "" {
		return nil
	}
	sizes, err := load.ParseClients(v)
	if err != nil {
		log.Printf("%s: %v", flagName, err)
		os.Exit(2)
	}
	return sizes
}

// run does the whole suite; every process it starts is dead and (unless
// -keep) its temp dir gone when it returns.
func run(ctx context.Context, o options) (err error) {
	tmp, err := os.MkdirTemp("", "agentbench-")
	if err != nil {
		return err
	}
	defer func() {
		if o.keep {
			log.Printf("kept %s", tmp)
			return
		}
		err = errors.Join(err, os.RemoveAll(tmp))
	}()
	etcdBins, binary, err := buildAll(ctx, tmp, o)
	if err != nil {
		return err
	}

	r := &report.Report{Started: time.Now(), Host: report.ThisHost(), Plan: o.plan, Rounds: o.rounds, LogStore: o.logStore, Notes: o.notes()}
	var rival *etcdRival
	if o.etcd {
		rival = &etcdRival{bins: etcdBins, dir: filepath.Join(tmp, "etcd")}
		if err := os.Mkdir(rival.dir, 0o700); err != nil {
			return err
		}
	}
	stepErr := measureAll(ctx, tmp, binary, o, r, rival)
	if stepErr != nil && ctx.Err() == nil {
		return stepErr
	}
	if stepErr != nil {
		// Interrupted (SIGINT, SIGTERM): what was measured is still a
		// result; the deferred cleanups have stopped every process.
		log.Printf("interrupted: %v", stepErr)
		r.Notes = append(r.Notes, "interrupted: partial results")
	}
	fmt.Println()
	if err := r.Text(os.Stdout); err != nil {
		return err
	}
	md, js, err := r.WriteFiles(o.out)
	if err != nil {
		return err
	}
	fmt.Printf("\nwrote %s and %s\n", md, js)
	return stepErr
}

// measureAll runs the measurements in order, adding each result to r as
// it comes, so that an interruption leaves r with what was measured.
func measureAll(ctx context.Context, tmp, binary string, o options, r *report.Report, rival *etcdRival) error {
	agentDir := filepath.Join(tmp, "agent")
	if err := os.Mkdir(agentDir, 0o700); err != nil {
		return err
	}
	if o.referenceFsyncs > 0 {
		// Before any agent runs, in the directory that holds their data
		// dirs, so it is their filesystem and nothing of ours competes.
		ref, err := measureReference(ctx, agentDir, o.referenceFsyncs)
		if err != nil {
			return err
		}
		r.Reference = ref
	}
	if o.watchers > 0 {
		wdir := filepath.Join(tmp, "watchers")
		if err := os.Mkdir(wdir, 0o700); err != nil {
			return err
		}
		log.Printf("watchers: %d idle blocking reads on one agent", o.watchers)
		wf, err := measureWatchers(ctx, binary, wdir, o.watchers)
		if err != nil {
			return err
		}
		for _, n := range wf.notes() {
			log.Print(n)
		}
		r.Notes = append(r.Notes, wf.notes()...)
		if o.watchersOnly {
			return nil
		}
	}
	if err := runAgent(ctx, binary, agentDir, o, r, rival); err != nil {
		return err
	}
	if o.apply {
		applyDir := filepath.Join(tmp, "apply")
		log.Print("running the put levels through raftnode.Apply in process")
		res, err := applybench.Run(ctx, applyDir, o.plan, o.logStore)
		if err != nil {
			return err
		}
		for _, x := range res {
			logLevel("", x)
		}
		r.Agent.Results = append(r.Agent.Results, res...)
		if o.rounds > 1 {
			r.Notes = append(r.Notes, "the raftnode.Apply levels ran once, after the rounds")
		}
	}
	for _, n := range o.gossip {
		log.Printf("gossip: %d agents joining one seed", n)
		gdir := filepath.Join(tmp, fmt.Sprintf("gossip%d", n))
		if err := os.Mkdir(gdir, 0o700); err != nil {
			return err
		}
		timings, err := measureGossip(ctx, binary, gdir, n)
		if err != nil {
			return err
		}
		r.Timings = append(r.Timings, timings...)
	}
	if o.gossipClients > 0 {
		log.Printf("gossip: 3 servers and %d gossip-only agents joining at once", o.gossipClients)
		cdir := filepath.Join(tmp, "clients")
		if err := os.Mkdir(cdir, 0o700); err != nil {
			return err
		}
		timings, err := measureClients(ctx, binary, cdir, o.gossipClients)
		if err != nil {
			return err
		}
		r.Timings = append(r.Timings, timings...)
	}
	return measureInproc(ctx, o, r)
}

// measureInproc runs the in-process gossip pools of -gossip-inproc.
func measureInproc(ctx context.Context, o options, r *report.Report) error {
	for _, n := range o.gossipInproc {
		log.Printf("gossip: %d in-process discovery members joining one seed", n)
		timings, err := measureGossipInproc(ctx, n)
		if err != nil && ctx.Err() != nil {
			return err
		}
		if err != nil {
			// A pool that does not converge is a result, not a reason to
			// throw the rest of the report away.
			log.Printf("gossip %d in process: %v", n, err)
			timings = []report.Timing{{Name: fmt.Sprintf("%d members: start → all see all", n), Seconds: -1,
				Note: "did not finish: " + strings.ReplaceAll(err.Error(), "\n", "; ")}}
		}
		r.Timings = append(r.Timings, timings...)
	}
	return nil
}
