package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"

	"github.com/clusteragent/agent/internal/clock"
)

// localMeta is the local metadata with its encoding, swapped as a unit so
// NodeMeta (called under memberlist's lock) is a single atomic load.
type localMeta struct {
	meta    Meta
	encoded []byte
}

// Gossip is this node's membership in the gossip pool. All methods are safe
// for concurrent use.
type Gossip struct {
	cfg    Config
	logger hclog.Logger
	clock  clock.Clock
	ml     *memberlist.Memberlist
	table  *memberTable
	store  *peerStore // nil without DataDir

	selfIP   net.IP
	selfPort int
	resolver Resolver

	// resolveLog and joinLog keep failures that repeat at every retry
	// readable; resolveFailures is gossip_join_resolve_failures_total.
	resolveLog      *rateLog
	joinLog         *rateLog
	resolveFailures atomic.Uint64

	meta     atomic.Pointer[localMeta]
	updateMu sync.Mutex // serialises UpdateMeta
	// run identifies this run of the node on the wire (Instance, Started);
	// conflicts holds what duplicate-ID detection needs (conflict.go).
	run       wireExtra
	conflicts conflictState

	events        chan Event
	eventsMu      sync.RWMutex // guards eventsStopped and metrics against emit
	eventsStopped bool
	dropped       atomic.Uint64
	metrics       *gossipMetrics

	joined   atomic.Bool
	settled  chan struct{} // closed when the first join phase ends (JoinSettled)
	settle   sync.Once
	dirty    chan struct{}
	reclaims chan reclaimClaim // address conflicts, for reclaimLoop
	refusals *refusalLog
	admitted admitCache

	keys    *keyring        // set up by createMemberlist
	queries *keyringQueries // cluster-wide keyring operations

	// ctx is cancelled first on Shutdown so in-flight DNS lookups and join
	// loops stop promptly; wg tracks every goroutine this package starts.
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	startOnce sync.Once

	lifecycle sync.RWMutex // write-held while shutting down
	closed    bool

	// Counters that tests read to know the loops have made progress.
	joinAttempts atomic.Uint64
	rejoins      atomic.Uint64
	joinSyncs    atomic.Uint64
}

// New validates cfg, creates the memberlist and starts listening. It does not
// join anyone: call Start (background, retrying) or Join (one attempt).
// Shutdown must be called to release the listeners.
func New(cfg Config) (*Gossip, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	g, err := newGossip(cfg)
	if err != nil {
		return nil, err
	}
	if err := g.createMemberlist(); err != nil {
		g.cancel()
		return nil, err
	}
	if cfg.Registerer != nil {
		if err := g.registerMetrics(cfg.Registerer); err != nil {
			g.cancel()
			_ = g.ml.Shutdown()
			return nil, err
		}
	}
	if g.store != nil {
		g.wg.Add(1)
		go g.persistLoop()
	}
	g.keyringWorkers()
	g.wg.Add(1)
	go g.reclaimLoop()
	g.logger.Info("gossip listening", "node_id", cfg.NodeID, "addr", g.Addr(), "profile", cfg.Profile,
		"encrypted", g.EncryptionEnabled())
	if cfg.AllowUnencrypted {
		g.logger.Warn("allow_unencrypted is on: this node sends gossip unencrypted and accepts unencrypted gossip; " +
			"turn it off once every node has the key")
	}
	return g, nil
}

// newGossip builds the Gossip around a validated, defaulted config and loads
// the remembered members; nothing is listening yet.
func newGossip(cfg Config) (*Gossip, error) {
	run := newRun()
	enc, err := encodeMeta(cfg.Meta, run)
	if err != nil {
		// Validate encoded Meta alone; the run's nonce and start time
		// add about 50 bytes, which a Meta at the size limit lacks.
		return nil, err
	}
	logger := cfg.Logger.Named("gossip")
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gossip{
		cfg:      cfg,
		logger:   logger,
		clock:    cfg.Clock,
		resolver: cfg.Resolver,
		events:   make(chan Event, cfg.EventBuffer),
		dirty:    make(chan struct{}, 1),
		settled:  make(chan struct{}),
		reclaims: make(chan reclaimClaim, 16),
		refusals: &refusalLog{logger: logger, clock: cfg.Clock, last: make(map[string]time.Time)},
		queries:  newKeyringQueries(),
		run:      run,
		ctx:      ctx,
		cancel:   cancel,
	}
	g.resolveLog = &rateLog{logger: logger, clock: cfg.Clock}
	g.joinLog = &rateLog{logger: logger, clock: cfg.Clock}
	g.meta.Store(&localMeta{meta: cfg.Meta, encoded: enc})
	var remembered []rememberedPeer
	if cfg.DataDir != "" {
		g.store = newPeerStore(cfg.DataDir)
		remembered = g.loadRemembered()
	}
	g.table = newMemberTable(cfg.NodeID, remembered)
	return g, nil
}

// createMemberlist starts memberlist with this Gossip's adapters. memberlist
// calls them during Create (the local node's own join), so the table and
// channels must exist before.
func (g *Gossip) createMemberlist() error {
	mc, err := g.cfg.memberlistConfig()
	if err != nil {
		return err
	}
	if err := g.setupKeyring(mc); err != nil {
		return err
	}
	mc.Logger = g.logger.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})
	mc.LogOutput = nil
	mc.Delegate = nodeDelegate{g}
	mc.Events = eventDelegate{g}
	mc.Alive = aliveDelegate{g}
	mc.Merge = mergeDelegate{g}
	mc.Conflict = conflictDelegate{g}
	if err := g.wrapTransport(mc); err != nil {
		return err
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		if mc.Transport != nil {
			// memberlist does not shut down a transport it was given when
			// it fails before it owns it.
			_ = mc.Transport.Shutdown()
		}
		return fmt.Errorf("discovery: start memberlist on %s: %w",
			net.JoinHostPort(g.cfg.BindAddr, fmt.Sprint(g.cfg.BindPort)), err)
	}
	g.ml = ml
	local := ml.LocalNode()
	g.selfIP, g.selfPort = slices.Clone(local.Addr), int(local.Port)
	self := local.Address()
	g.conflicts.self.Store(&self)
	return nil
}

// Start joins in the background: seeds (resolved at every attempt), then
// remembered members, with jittered exponential backoff until one answers;
// then, every RejoinInterval, re-joins when a remembered member is missing.
// Calling it again does nothing.
func (g *Gossip) Start() {
	g.lifecycle.RLock()
	defer g.lifecycle.RUnlock()
	if g.closed {
		return
	}
	g.startOnce.Do(func() {
		g.wg.Add(1)
		go g.joinLoop()
	})
}

// Join makes one synchronous attempt to join addrs (host:port, IPs or DNS
// names). It returns how many addresses answered; it fails unless another
// node is now a live member.
func (g *Gossip) Join(addrs []string) (int, error) {
	g.lifecycle.RLock()
	defer g.lifecycle.RUnlock()
	if g.closed {
		return 0, ErrShutdown
	}
	resolved, errs := g.resolve(g.ctx, addrs)
	if len(resolved) == 0 {
		if len(errs) == 0 {
			return 0, fmt.Errorf("%w: %d given, none other than this node", ErrNoSeeds, len(addrs))
		}
		return 0, fmt.Errorf("%w: %w", ErrNoSeeds, errors.Join(errs...))
	}
	n, err := g.joinEach(resolved)
	if n == 0 || !g.hasPeers() {
		return n, fmt.Errorf("%w: %w", ErrJoin, errors.Join(append(errs, err)...))
	}
	g.joined.Store(true)
	g.markSettled()
	return n, nil
}

// Joined reports whether another member has been reached, by this node's
// join or by another node joining this one. It stays true once set.
func (g *Gossip) Joined() bool { return g.joined.Load() }

// JoinSettled is closed once Start's first join phase is over: another
// member was reached (by this node or by one joining it), or there was
// nobody to reach (no seeds but this node, no remembered members), so this
// node waits to be joined. While seeds fail or refuse, it stays open. It is
// what an agent's readiness for a service manager waits for.
func (g *Gossip) JoinSettled() <-chan struct{} { return g.settled }

func (g *Gossip) markSettled() { g.settle.Do(func() { close(g.settled) }) }

// Addr is this node's advertised gossip host:port.
func (g *Gossip) Addr() string {
	return net.JoinHostPort(g.selfIP.String(), fmt.Sprint(g.selfPort))
}

// Members returns every known member, this node included, sorted by ID:
// live ones from memberlist, plus dead and left ones until Forget or
// DeadRetention. The result is a copy.
func (g *Gossip) Members() []Member {
	// memberlist's lock is taken and released before the table's, keeping
	// the lock order of the callbacks (memberlist's, then the table's).
	suspects := make(map[string]bool)
	for _, n := range g.ml.Members() {
		if n.State == memberlist.StateSuspect {
			suspects[n.Name] = true
		}
	}
	return g.table.snapshot(suspects, g.clock.Now(), g.cfg.DeadRetention)
}

// Member returns one member by ID.
func (g *Gossip) Member(id string) (Member, bool) {
	for _, m := range g.Members() {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

// MemberFast returns one member as the membership callbacks last recorded
// it, without asking memberlist: a suspect member reads as alive. It costs
// one map lookup, for paths that run per RPC (Raft's address lookup); use
// Member for the exact status.
func (g *Gossip) MemberFast(id string) (Member, bool) { return g.table.get(id) }

// LocalMember returns this node, with its current metadata. It reads the
// table entry alone: the agent asks every second, and building the whole
// sorted member list for it cost a pool of a thousand a copy of every
// member each time. memberlist never reports its own node as suspect, so
// the entry is what Members would say.
func (g *Gossip) LocalMember() Member {
	m, ok := g.table.get(g.cfg.NodeID)
	if !ok {
		m = Member{ID: g.cfg.NodeID, Addr: g.Addr(), Status: StatusAlive}
	}
	m.Meta = g.meta.Load().meta
	return m
}

// LocalMeta returns this node's current metadata.
func (g *Gossip) LocalMeta() Meta { return g.meta.Load().meta }

// Events returns the membership event stream, for a single consumer. Events
// are sent without blocking memberlist: when the buffer (EventBuffer) is
// full they are dropped and counted (Dropped, gossip_events_dropped_total).
// Consumers must therefore also reconcile from Members periodically. The
// channel is never closed (a consumer selecting on it without checking for
// closure would spin); stop reading on your own shutdown signal. No events
// are sent after Shutdown.
func (g *Gossip) Events() <-chan Event { return g.events }

// Dropped returns how many events were dropped because the buffer was full.
func (g *Gossip) Dropped() uint64 { return g.dropped.Load() }

// UpdateMeta changes the local metadata with f and broadcasts it, waiting up
// to UpdateTimeout for the broadcast to go out. ID cannot be changed. When
// the new metadata is invalid nothing changes and the error says why.
func (g *Gossip) UpdateMeta(f func(*Meta)) error {
	g.lifecycle.RLock()
	defer g.lifecycle.RUnlock()
	if g.closed {
		return ErrShutdown
	}
	g.updateMu.Lock()
	defer g.updateMu.Unlock()
	m := g.meta.Load().meta
	f(&m)
	m.ID = g.cfg.NodeID
	enc, err := encodeMeta(m, g.run)
	if err != nil {
		return err
	}
	g.meta.Store(&localMeta{meta: m, encoded: enc})
	if err := g.ml.UpdateNode(g.cfg.UpdateTimeout); err != nil {
		// The new meta is in place and gossip will carry it anyway; the
		// caller only learns it may arrive late.
		return fmt.Errorf("discovery: broadcast metadata update: %w", err)
	}
	return nil
}

// Forget drops a dead or left member from Members and from the remembered
// set, so it is not rejoined (call it once the member was removed from
// Raft). A live member is not affected: memberlist would report it again.
func (g *Gossip) Forget(id string) {
	if g.table.forget(id) {
		g.markDirty()
	}
}

// Leave leaves the pool gracefully, then shuts down. It first broadcasts
// metadata flagged as leaving (so peers record "left", not "dead"), then
// memberlist's leave message, waiting up to timeout for each. The remembered
// members are cleared: a node that left does not rejoin its old pool on
// restart unless given seeds.
func (g *Gossip) Leave(timeout time.Duration) error {
	g.cancel() // stop the join loops first so they cannot rejoin meanwhile
	g.lifecycle.Lock()
	defer g.lifecycle.Unlock()
	if g.closed {
		return ErrShutdown
	}
	g.wg.Wait()
	leaveErr := g.broadcastLeave(timeout)
	if leaveErr != nil {
		g.logger.Warn("leave broadcast not confirmed; shutting down anyway", "error", leaveErr)
	} else {
		g.logger.Info("left gossip pool")
	}
	g.table.clearRemembered()
	return errors.Join(leaveErr, g.shutdownLocked())
}

func (g *Gossip) broadcastLeave(timeout time.Duration) error {
	g.updateMu.Lock()
	cur := g.meta.Load()
	leaving := g.run
	leaving.Leaving = true
	enc, err := encodeMeta(cur.meta, leaving)
	if err == nil {
		g.meta.Store(&localMeta{meta: cur.meta, encoded: enc})
		// Must finish before the leave message: a newer message about this
		// node would cancel the queued metadata broadcast.
		err = g.ml.UpdateNode(timeout)
	}
	g.updateMu.Unlock()
	if err != nil {
		err = fmt.Errorf("discovery: broadcast leaving flag: %w", err)
	}
	if lerr := g.ml.Leave(timeout); lerr != nil {
		return errors.Join(err, fmt.Errorf("discovery: leave: %w", lerr))
	}
	return err
}

// Shutdown stops gossip without a leave message (others will declare this
// node dead), stops and waits for every goroutine, saves the remembered
// members and stops sending events. It is idempotent.
func (g *Gossip) Shutdown() error {
	g.cancel()
	g.lifecycle.Lock()
	defer g.lifecycle.Unlock()
	if g.closed {
		return nil
	}
	return g.shutdownLocked()
}

func (g *Gossip) shutdownLocked() error {
	g.closed = true
	g.wg.Wait()
	err := g.ml.Shutdown()
	g.persist()
	g.eventsMu.Lock()
	g.eventsStopped = true
	metrics := g.metrics
	g.eventsMu.Unlock()
	if metrics != nil {
		metrics.unregister()
	}
	g.logger.Info("gossip stopped")
	if err != nil {
		return fmt.Errorf("discovery: shutdown memberlist: %w", err)
	}
	return nil
}
