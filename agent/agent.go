// Package agent is the composition root: it wires TLS, Raft (raftnode),
// gossip (discovery), the leader's autopilot and the HTTP API into one
// running agent, and owns their start and stop order.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/clusteragent/agent/agent/autopilot"
	"github.com/clusteragent/agent/agent/kv"
	"github.com/clusteragent/agent/discovery"
	"github.com/clusteragent/agent/internal/clock"
	"github.com/clusteragent/agent/internal/metricsbridge"
	"github.com/clusteragent/agent/internal/mux"
	"github.com/clusteragent/agent/raftnode"
	"github.com/clusteragent/agent/tlsutil"
)

// Version is the agent's version, set at build time with -ldflags.
var Version = "0.1.0-dev"

// Agent is one running agent. Build it with New, then Start; stop it with
// Shutdown (or Leave through the API).
type Agent struct {
	cfg      Config
	logger   hclog.Logger
	onStop   func() // WithStopHook
	id       *identity
	registry *prometheus.Registry
	fsm      raft.FSM
	kv       *kv.Store // the default state machine; nil when WithFSM replaced it
	user     *indexFSM // the WithFSM state machine's wrapper; nil with the KV store

	raft   *raftnode.Node // nil for a gossip-only member
	mux    *mux.Mux       // the Raft port, shared with agent-to-agent calls
	tls    *tlsutil.Configurator
	gossip *discovery.Gossip
	pilot  *autopilot.Manager
	peers  *peerClient
	hooks  NetworkHooks // test-only fault injection; zero in production
	// featureOverride, set by tests only, makes the node advertise other
	// features than its version has (see features.go).
	featureOverride atomic.Pointer[uint64]

	// tlsReload is set by startTLS; atomic because Reload may be called
	// from any goroutine, even while Start runs.
	tlsReload atomic.Pointer[tlsReloader]

	httpLn   net.Listener
	httpSrv  *http.Server
	httpDone chan struct{} // closed when Serve returns
	rpcSrv   *http.Server  // agent-to-agent API on the Raft port
	rpcDone  chan struct{}

	reconcileQ *reconcileQueue // member events for the leader's reconciler
	tombstones *tombstones
	clock      clock.Clock // the time source of the leader duties and loops
	// leases is the leader's lease clock (see leases.go).
	leases     leaseKeeper
	backups    *backups  // scheduled snapshots, a leader duty
	addrs      *addrBook // Raft's by-ID address lookup, fed by gossip
	leaderHint leaderHint

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	shutdownOnce sync.Once
	shutdownErr  error
	done         chan struct{}
}

// Option changes how New builds an agent.
type Option func(*Agent)

// WithFSM replaces the agent's key/value store with another state machine
// (library use). Propose its mutations with Agent.Apply from any server and
// make local reads of it linearizable with Agent.Read. The key/value,
// lease and snapshot routes of the HTTP API then answer 400; the cluster
// routes (status, members, raft, autopilot, leave) work as always.
func WithFSM(fsm raft.FSM) Option { return func(a *Agent) { a.fsm, a.kv = fsm, nil } }

// WithStopHook makes the agent call f as it begins to leave or to stop its
// components, on every path (Shutdown, Leave, a leave through the HTTP API,
// Kill), perhaps more than once: the
// CLI's logger uses it to tell the errors of listeners closing on purpose
// from real ones.
func WithStopHook(f func()) Option { return func(a *Agent) { a.onStop = f } }

// New validates cfg and prepares the data dir and identity. It starts nothing.
func New(cfg Config, logger hclog.Logger, opts ...Option) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg, err := cfg.resolveAddresses(systemNetEnv())
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	id, err := loadIdentity(cfg.DataDir, cfg.NodeID)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:        cfg,
		logger:     logger,
		id:         id,
		registry:   prometheus.NewRegistry(),
		tombstones: newTombstones(),
		clock:      clock.Real{},
		done:       make(chan struct{}),
	}
	if a.reconcileQ, err = newReconcileQueue(256, a.registry); err != nil {
		return nil, err
	}
	a.addrs = &addrBook{clusterID: a.ClusterID}
	a.kv = kv.NewStore(storeLimits())
	a.fsm = a.kv
	for _, opt := range opts {
		opt(a)
	}
	if a.kv == nil {
		if a.fsm == nil {
			return nil, errors.New("WithFSM: the state machine is nil")
		}
		if cfg.Snapshot.Interval > 0 {
			// The archive format holds the key/value store's state; a user
			// state machine is saved by raft's own snapshots only.
			return nil, fieldErr("snapshot.interval", "scheduled snapshot archives hold the key/value store; with WithFSM leave it 0")
		}
		a.fsm, a.user = wrapUserFSM(a.fsm)
	}
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.backups = newBackups(cfg.Snapshot, cfg.DataDir, logger.Named("snapshot"))
	a.backups.take = a.saveSnapshotFile
	a.registry.MustRegister(a.backups.collectors()...)
	// Raft's and memberlist's own metrics (raft_commit_time, memberlist_gossip,
	// ...) go through go-metrics' process-wide global; the bridge exports
	// them here too.
	if err := metricsbridge.Install(a.registry); err != nil {
		return nil, err
	}
	return a, nil
}

// NodeID returns this agent's node ID.
func (a *Agent) NodeID() string { return a.id.nodeID }

// ClusterID returns the cluster ID, "" until this node belongs to a cluster.
func (a *Agent) ClusterID() string { return a.id.ClusterID() }

// HTTPAddr returns the address the HTTP API listens on (after Start).
func (a *Agent) HTTPAddr() string {
	if a.httpLn == nil {
		return ""
	}
	return a.httpLn.Addr().String()
}

// GossipAddr returns the gossip address (after Start).
func (a *Agent) GossipAddr() string {
	if a.gossip == nil {
		return ""
	}
	return a.gossip.LocalMember().Addr
}

// KV returns the key/value store (nil when WithFSM replaced it).
func (a *Agent) KV() *kv.Store { return a.kv }

// Node returns the Raft node, nil for a gossip-only member.
func (a *Agent) Node() *raftnode.Node { return a.raft }

// Gossip returns the gossip layer.
func (a *Agent) Gossip() *discovery.Gossip { return a.gossip }

// Registry returns the agent's Prometheus registry.
func (a *Agent) Registry() *prometheus.Registry { return a.registry }

// Done is closed once the agent has stopped, whoever stopped it.
func (a *Agent) Done() <-chan struct{} { return a.done }

// GossipSettled is closed once the agent's first gossip join is over:
// another member was reached, or there was none to reach (no seeds but this
// node, no remembered members). Valid after Start; see
// discovery.Gossip.JoinSettled.
func (a *Agent) GossipSettled() <-chan struct{} { return a.gossip.JoinSettled() }

// Start brings the agent up: HTTP listener, Raft, gossip, then the loops.
// ctx bounds the start only (the agent then runs until Shutdown): once it
// ends, Start stops at the next step and returns ctx.Err(). On any error
// everything started so far is stopped again, listeners and the data dir
// lock included.
func (a *Agent) Start(ctx context.Context) error {
	a.ctx, a.cancel = context.WithCancel(context.Background())
	if err := a.start(ctx); err != nil {
		a.shutdownOnce.Do(a.stopAll)
		return err
	}
	a.logger.Info("agent started", "node_id", a.NodeID(), "cluster_id", a.ClusterID(),
		"http_addr", a.HTTPAddr(), "gossip_addr", a.GossipAddr(), "server", a.cfg.Server)
	return nil
}

func (a *Agent) start(ctx context.Context) error {
	var advertise string
	steps := []func() error{
		a.listenHTTP,
		func() (err error) { advertise, err = a.advertiseIP(); return err },
		func() error {
			if a.cfg.TLS.Enable {
				return a.startTLS()
			}
			return nil
		},
		func() error {
			a.peers = newPeerClient(a.cfg.HTTP.Token, a.tls, a.peerDialer(mux.ProtoAgent))
			return nil
		},
		func() error { return a.ifServer(func() error { return a.startRaft(advertise) }) },
		func() error { return a.startGossip(advertise) },
		func() error { return a.ifServer(a.startAutopilot) },
	}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := step(); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	a.startHTTP()
	a.gossip.Start()
	a.goLoop(a.memberLoop)
	if a.raft != nil {
		a.goLoop(a.monitorLeadership)
		if a.cfg.bootstrapMode() != bootstrapNever {
			a.goLoop(a.runBootstrap)
		}
	}
	return nil
}

func (a *Agent) listenHTTP() error {
	ln, err := net.Listen("tcp", a.cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("http.addr: listen on %s: %w", a.cfg.HTTP.Addr, err)
	}
	a.httpLn = ln
	return nil
}

// ifServer runs f on a Raft server; a gossip-only member skips it.
func (a *Agent) ifServer(f func() error) error {
	if !a.cfg.Server {
		return nil
	}
	return f()
}

func (a *Agent) goLoop(f func(context.Context)) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		f(a.ctx)
	}()
}

// advertiseIP is the address other nodes reach this one at: advertise (a
// template already resolved by New), else bind, else the host's private IPv4
// address when there is exactly one choice (see chooseAdvertise).
func (a *Agent) advertiseIP() (string, error) {
	if a.cfg.Advertise != "" {
		return a.cfg.Advertise, nil
	}
	if ip := net.ParseIP(a.cfg.Bind); ip != nil && !ip.IsUnspecified() {
		return a.cfg.Bind, nil
	}
	ip, err := defaultAdvertise(systemNetEnv())
	if err != nil {
		return "", fieldErr("advertise", "bind is %s, so an address to advertise must be chosen: %v", a.cfg.Bind, err)
	}
	return ip, nil
}

func (a *Agent) startRaft(advertise string) error {
	bind := net.JoinHostPort(a.cfg.Bind, strconv.Itoa(a.cfg.Ports.Raft))
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return fmt.Errorf("ports.raft: listen on %s: %w", bind, err)
	}
	a.mux = mux.New(a.wrapRaftListener(ln))
	go a.mux.Serve()
	opts := raftOptions(a.cfg, a.NodeID(), advertise)
	opts.Listener = a.mux.Listener(mux.ProtoRaft)
	opts.Dial = a.peerDialer(mux.ProtoRaft)
	opts.FSM = a.fsm
	opts.AddressOf = a.addrs.raftAddr
	opts.TLS = a.tlsForRaft()
	opts.Logger = a.logger
	opts.Registerer = a.registry
	node, err := raftnode.NewNode(opts)
	if err != nil {
		a.mux.Close()
		return fmt.Errorf("raft: %w", err)
	}
	a.raft = node
	return nil
}

// tlsForRaft returns nil (plain TCP) as an untyped nil interface when TLS is
// off: a typed nil pointer inside the interface would read as "TLS on".
func (a *Agent) tlsForRaft() raftnode.TLSConfigurator {
	if a.tls == nil {
		return nil
	}
	return a.tls
}

func (a *Agent) startGossip(advertise string) error {
	gcfg, err := gossipConfig(a.cfg, a.NodeID(), advertise)
	if err != nil {
		return err
	}
	gcfg.Logger = a.logger
	gcfg.Registerer = a.registry
	gcfg.Meta = a.localMeta()
	gcfg.WrapTransport = a.hooks.GossipTransport
	g, err := discovery.New(gcfg)
	if err != nil {
		return fmt.Errorf("gossip: %w", err)
	}
	a.gossip = g
	a.addrs.gossip.Store(g)
	return nil
}

// localMeta is what this node gossips about itself.
func (a *Agent) localMeta() discovery.Meta {
	m := discovery.Meta{
		ID:        a.NodeID(),
		ClusterID: a.ClusterID(),
		HTTPAddr:  a.HTTPAddr(),
		Role:      discovery.RoleClient,
		Zone:      a.cfg.Zone,
		Version:   Version,
		Features:  a.features(),
	}
	if a.raft != nil {
		m.Role = discovery.RoleServer
		m.RaftAddr = a.raft.Addr()
		m.HasState = a.raft.HasState()
	}
	return m
}

func (a *Agent) startAutopilot() error {
	pilot, err := autopilot.New(autopilotConfig(a.cfg), autopilot.Deps{
		Raft:       a.raft.Raft(),
		Members:    a.serverMembers,
		Fetcher:    a.peers,
		LocalID:    a.NodeID(),
		LocalStats: a.localAutopilotStats,
		Remove:     a.removeFailedServer,
		Logger:     a.logger,
		Registerer: a.registry,
		Clock:      a.clock,
	})
	if err != nil {
		return err
	}
	a.pilot = pilot
	return nil
}

// Shutdown stops the agent. A leader first hands leadership to another
// voter so the cluster does not wait out an election timeout; with
// leave_on_terminate the node also leaves gossip and Raft. Otherwise it
// keeps its Raft place, so a restart rejoins as the same server.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.shutdownOnce.Do(func() {
		a.logger.Info("shutting down")
		if a.cfg.LeaveOnTerminate {
			if err := a.leave(ctx); err != nil {
				a.logger.Warn("graceful leave failed", "error", err)
			}
		} else {
			a.handOffLeadership(ctx)
		}
		a.stopAll()
		a.logger.Info("agent stopped")
	})
	<-a.done
	return a.shutdownErr
}

// Leave leaves the cluster gracefully (removed from Raft, "left" in gossip)
// and then stops the agent.
func (a *Agent) Leave(ctx context.Context) error {
	var err error
	a.shutdownOnce.Do(func() {
		err = a.leave(ctx)
		a.stopAll()
		a.logger.Info("agent stopped after leaving")
	})
	<-a.done
	return err
}

// Kill stops the agent at once: no leadership hand-off, no leave. To the
// cluster it looks like a crash; tests and the fault suite use it.
func (a *Agent) Kill() {
	a.shutdownOnce.Do(func() {
		a.logger.Warn("killed")
		a.stopAll()
	})
	<-a.done
}

// handOffLeadership transfers leadership when this node leads and another
// voter exists to take it.
func (a *Agent) handOffLeadership(ctx context.Context) {
	if a.raft == nil || !a.raft.IsLeader() || a.otherVoters(ctx) == 0 || !a.healthyVoterBesidesMe() {
		return
	}
	// A transfer to a live voter completes within an election timeout or
	// two; waiting longer only delays a shutdown whose peers are going too.
	tctx, cancel := context.WithTimeout(ctx, min(a.shutdownTimeout(), time.Duration(a.cfg.Raft.Multiplier)*3*time.Second))
	defer cancel()
	if err := a.raft.TransferLeadership(tctx, ""); err != nil {
		a.logger.Warn("leadership transfer before shutdown failed", "error", err)
		return
	}
	a.logger.Info("handed off leadership", "new_leader", a.raft.LeaderID())
}

func (a *Agent) otherVoters(ctx context.Context) int {
	conf, err := a.raft.GetConfiguration(ctx)
	if err != nil {
		return 0
	}
	n := 0
	for _, s := range conf.Servers {
		if s.ID != a.NodeID() && s.Suffrage == "voter" {
			n++
		}
	}
	return n
}

// healthyVoterBesidesMe reports whether autopilot last saw another healthy
// voter: handing leadership to a dead one would only stall the shutdown.
// Without an autopilot view yet, it assumes yes and lets the bounded
// transfer find out.
func (a *Agent) healthyVoterBesidesMe() bool {
	st := a.pilot.Health()
	if st == nil {
		return true
	}
	for _, s := range st.Servers {
		if s.ID == a.NodeID() || !s.Voter || !s.Healthy {
			continue
		}
		if m, ok := a.gossip.Member(s.ID); ok && m.Status == discovery.StatusAlive {
			return true
		}
	}
	return false
}

func (a *Agent) shutdownTimeout() time.Duration {
	if a.cfg.Tuning.ShutdownTimeout > 0 {
		return a.cfg.Tuning.ShutdownTimeout
	}
	return 10 * time.Second
}

// stopAll stops everything in reverse order of start, records the error for
// Shutdown and closes done. Safe on a partly started agent.
func (a *Agent) stopAll() {
	if a.onStop != nil {
		a.onStop()
	}
	var errs []error
	defer func() {
		a.shutdownErr = errors.Join(errs...)
		close(a.done)
	}()
	if a.cancel != nil {
		a.cancel()
	}
	a.wg.Wait()
	if a.pilot != nil {
		a.pilot.Stop()
	}
	stopServer(a.httpSrv, a.httpDone)
	stopServer(a.rpcSrv, a.rpcDone)
	if a.httpSrv == nil && a.httpLn != nil {
		a.httpLn.Close()
	}
	// Gossip stops before Raft so peers see this node go as soon as it stops
	// answering Raft, not a probe interval later.
	if a.gossip != nil {
		if err := a.gossip.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("gossip: %w", err))
		}
	}
	if a.raft != nil {
		if err := a.raft.Close(); err != nil {
			errs = append(errs, fmt.Errorf("raft: %w", err))
		}
	}
	if a.mux != nil {
		a.mux.Close()
	}
}

// stopServer drains an HTTP server briefly, then cuts what is left.
func stopServer(srv *http.Server, done chan struct{}) {
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
	}
	<-done
}
