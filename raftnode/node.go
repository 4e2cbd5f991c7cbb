package raftnode

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// closeGrace bounds how long Close waits for in-flight raft operations to
// resolve, before and after shutting raft down.
const closeGrace = 5 * time.Second

// Server is one entry of the Raft configuration.
type Server struct {
	// ID is the server's node ID.
	ID string `json:"id"`
	// Address is the server's Raft "host:port".
	Address string `json:"address"`
	// Suffrage is "voter", "nonvoter" or "staging".
	Suffrage string `json:"suffrage"`
	// Leader is true for the server this node believes is the leader.
	Leader bool `json:"leader"`
}

// Configuration is the latest Raft configuration known to this node (it may
// not be committed yet).
type Configuration struct {
	// Index is the log index the configuration was written at.
	Index uint64 `json:"index"`
	// Servers are sorted as raft stores them.
	Servers []Server `json:"servers"`
}

// Result is the outcome of a committed command.
type Result struct {
	// Index is the log index the command was committed at.
	Index uint64
	// Response is what FSM.Apply returned for it; an error value here means
	// the state machine rejected the (committed) command.
	Response any
}

// Status is a cheap snapshot of the node's Raft state.
type Status struct {
	NodeID string `json:"node_id"`
	// State is "leader", "follower", "candidate" or "shutdown".
	State      string `json:"state"`
	LeaderID   string `json:"leader_id"`
	LeaderAddr string `json:"leader_addr"`
	Term       uint64 `json:"term"`
	// CommitIndex is the highest index known committed; AppliedIndex the
	// highest handed to the FSM.
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	LastLogIndex uint64 `json:"last_log_index"`
	LastLogTerm  uint64 `json:"last_log_term"`
	// LastContact is the time since the leader was last heard from: 0 on
	// the leader, -1 if never.
	LastContact time.Duration `json:"last_contact"`
	// LogStore is the log store in use: "wal" or "boltdb".
	LogStore string `json:"log_store"`
}

// Node is one Raft server: its stores, its transport and the raft instance,
// with context-aware wrappers over raft's futures. All methods are safe for
// concurrent use; after Close they return ErrClosed.
type Node struct {
	meta   *metaFSM // the user's FSM plus the replicated cluster ID
	opts   Options  // with defaults applied
	logger hclog.Logger

	store   *storage
	stream  *streamLayer
	trans   *raft.NetworkTransport
	raft    *raft.Raft
	metrics *nodeMetrics
	leaders *leaderForwarder

	hadState  bool          // raft state existed when the node opened
	readyTerm atomic.Uint64 // term in which a barrier made reads safe; see LinearizableRead

	mu       sync.RWMutex // guards closed against waiters registering
	closed   bool
	closing  chan struct{} // closed when Close starts: pending calls return
	inflight inflight      // goroutines waiting on raft futures

	closeOnce sync.Once
	closeErr  error
}

// NewNode validates opts, opens the stores in DataDir, starts the transport
// and raft, and applies the bootstrap rules (see the package doc). On error
// everything opened so far is closed again.
func NewNode(opts Options) (*Node, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	n := &Node{opts: o, logger: o.Logger.Named("raft"), closing: make(chan struct{})}
	n.inflight.init()
	if err := n.open(); err != nil {
		_ = n.Close()
		return nil, err
	}
	if err := n.bootstrapOnOpen(); err != nil {
		_ = n.Close()
		return nil, err
	}
	return n, nil
}

// open brings up storage, transport, the leadership forwarder, raft and the
// metrics, in that order; close tears down whatever exists.
func (n *Node) open() (err error) {
	defer func() {
		// NewNode owns Options.Listener from the start: close it on any
		// failure before the stream layer adopted it.
		if err != nil && n.stream == nil && n.opts.Listener != nil {
			_ = n.opts.Listener.Close()
		}
	}()
	if n.store, err = openStorage(storageOptions{
		dir: n.opts.DataDir, logStore: n.opts.LogStore, walSegmentSize: n.opts.WALSegmentSize,
		retain: n.opts.SnapshotRetain, logger: n.logger, wrapVFS: n.opts.wrapVFS,
	}); err != nil {
		return err
	}
	n.logger.Info("log store", "store", n.store.kind, "path", n.store.path, "reason", n.store.reason)
	if n.hadState, err = n.store.hasState(); err != nil {
		return err
	}
	if n.stream, err = newStreamLayer(&n.opts, n.logger); err != nil {
		return err
	}
	var addrs *addressProvider
	if n.opts.AddressOf != nil {
		addrs = &addressProvider{lookup: n.opts.AddressOf, self: raft.ServerID(n.opts.NodeID), selfAddr: raft.ServerAddress(n.Addr())}
	}
	n.trans = newTransport(n.stream, addrs, n.logger)
	n.metrics = newNodeMetrics(n)
	n.leaders = startLeaderForwarder(n.logger, n.metrics.leaderChanges)
	n.meta = newMetaFSM(n.opts.FSM)
	var trans raft.Transport = n.trans
	if n.opts.DisablePipeline {
		trans = noPipelineTransport{n.trans}
	}
	if n.raft, err = raft.NewRaft(n.raftConfig(), n.meta, n.store.logs, n.store.store, n.store.snaps, trans); err != nil {
		n.raft = nil
		return fmt.Errorf("raftnode: start raft: %w", err)
	}
	if addrs != nil {
		addrs.raft.Store(n.raft)
	}
	// Raft has read the log, the stable state and the newest snapshot: the
	// store a migration produced works, so its predecessor can go.
	n.store.dropMigrationLeftovers(n.logger)
	return n.metrics.register(n.opts.Registerer)
}

// raftConfig maps Options onto raft's Config.
func (n *Node) raftConfig() *raft.Config {
	o := &n.opts
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(o.NodeID)
	c.HeartbeatTimeout = o.HeartbeatTimeout
	c.ElectionTimeout = o.ElectionTimeout
	c.LeaderLeaseTimeout = o.LeaderLeaseTimeout
	c.CommitTimeout = o.CommitTimeout
	c.SnapshotThreshold = o.SnapshotThreshold
	c.SnapshotInterval = o.SnapshotInterval
	c.TrailingLogs = o.TrailingLogs
	c.NotifyCh = n.leaders.in
	c.Logger = n.logger
	c.LogLevel = hclog.Info.String()
	// A removed server stays up as a follower outside the configuration
	// instead of shutting raft down, so a pruned node that comes back can be
	// added again without restarting the agent. It cannot start elections:
	// raft does not campaign when it is not in the configuration.
	c.ShutdownOnRemove = false
	// We export our own Prometheus metrics; skip raft's per-peer legacy names.
	c.NoLegacyTelemetry = true
	// Group commit: a buffered apply channel lets the leader loop take every
	// waiting entry in one batch, written with one fsync and sent in one
	// AppendEntries, instead of one entry per loop turn. Apply's enqueue
	// timeout no longer bounds the wait in the buffer, which we never rely
	// on: every Propose is bounded by its ctx and waits on the future.
	c.BatchApplyCh = true
	c.MaxAppendEntries = maxAppendEntries
	// Pre-vote is on by default in raft v1.8 (PreVoteDisabled is false): a
	// partitioned node that rejoins cannot force a needless election.
	return c
}

// bootstrapOnOpen applies planBootstrap.
func (n *Node) bootstrapOnOpen() error {
	servers, reason := planBootstrap(&n.opts, n.Addr(), n.hadState)
	if len(servers) == 0 {
		// A join-only node's caller decides about bootstrapping (the agent
		// does, through its own path, and logs that), so an INFO line here
		// would tell a -bootstrap-expect agent's operator it waits to be added.
		log := n.logger.Info
		if n.opts.JoinOnly {
			log = n.logger.Debug
		}
		log("not bootstrapping", "reason", reason, "addr", n.Addr())
		return nil
	}
	n.logger.Info("bootstrapping cluster", "reason", reason, "servers", len(servers))
	if p, ok := n.opts.Peers[n.opts.NodeID]; ok && p != n.Addr() {
		n.logger.Warn("Peers lists this node at a different address; using the advertised one",
			"peers_addr", p, "advertised_addr", n.Addr())
	}
	if err := n.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		return fmt.Errorf("raftnode: bootstrap (%s): %w", reason, err)
	}
	return nil
}

// Close shuts down raft (without leaving the cluster), then the transport,
// then BoltDB, and unregisters the metrics. Pending calls return ErrClosed.
// It is idempotent: later calls return the first result.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.close() })
	return n.closeErr
}

func (n *Node) close() error {
	n.mu.Lock()
	n.closed = true
	close(n.closing)
	n.mu.Unlock()

	var errs []error
	if n.raft != nil {
		// Let operations already handed to raft finish, so none is cut off
		// in a state where raft would never answer it.
		if !n.inflight.wait(closeGrace) {
			n.logger.Warn("closing with raft operations still pending")
		}
		if n.stream != nil {
			n.stream.stopDials() // no new connections: shutdown need not wait out dials to dead peers
		}
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("raftnode: shutdown raft: %w", err))
		}
	}
	if n.leaders != nil {
		n.leaders.stop()
	}
	if n.trans != nil {
		_ = n.trans.Close()
		n.trans.CloseStreams()
	}
	if n.stream != nil {
		_ = n.stream.Close() // closes the listener and every connection
		// A heartbeat handler already past raft's shutdown check would
		// still write the term: BoltDB must outlive it, or raft panics.
		if !n.stream.waitHandlers(closeGrace) {
			n.logger.Warn("raft connection handlers still running after shutdown")
		}
	}
	if !n.inflight.wait(closeGrace) {
		n.logger.Warn("raft operations left unanswered after shutdown")
	}
	if n.store != nil {
		if err := n.store.close(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.metrics != nil {
		n.metrics.unregister()
	}
	return errors.Join(errs...)
}

// NodeID returns this node's ID.
func (n *Node) NodeID() string { return n.opts.NodeID }

// Addr returns the advertised Raft address.
func (n *Node) Addr() string { return n.stream.Addr().String() }

// LogStore names the log store this node opened: LogStoreWAL or
// LogStoreBoltDB.
func (n *Node) LogStore() string { return n.store.kind }

// Raft returns the underlying raft instance, for integrations such as
// raft-autopilot. Shutting it down directly bypasses Close's ordering.
func (n *Node) Raft() *raft.Raft { return n.raft }

// IsLeader reports whether this node is the leader right now. It is a local
// view; use LinearizableRead to be sure.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// LeaderID returns the ID of the leader this node knows of, or "".
func (n *Node) LeaderID() string {
	_, id := n.raft.LeaderWithID()
	return string(id)
}

// LeaderAddr returns the Raft address of the leader this node knows of, or "".
func (n *Node) LeaderAddr() string {
	a, _ := n.raft.LeaderWithID()
	return string(a)
}

// Stats returns raft's own statistics map (raft.Raft.Stats).
func (n *Node) Stats() map[string]string { return n.raft.Stats() }

// LeaderCh delivers every leadership change of this node, in order: true
// when it becomes leader, false when it stops. Raft never blocks on it: the
// changes queue up until read. It has a single consumer and is never closed;
// stop reading when you stop the node.
func (n *Node) LeaderCh() <-chan bool { return n.leaders.out }

// HasState reports whether this node has Raft state: it had some when it
// opened, or it has since bootstrapped or received log entries.
func (n *Node) HasState() bool {
	return n.hadState || n.raft.CurrentTerm() > 0 || n.raft.LastIndex() > 0
}

// AppliedIndex is the index of the last entry raft has handed to the FSM.
func (n *Node) AppliedIndex() uint64 { return n.raft.AppliedIndex() }

// LastContact is the time since this node last heard from a leader: 0 on
// the leader, -1 before any contact.
func (n *Node) LastContact() time.Duration { return n.lastContact() }

// Status returns a snapshot of the node's Raft state. It costs a round
// trip through raft's main loop (for the last log term): per-request paths
// should use the cheap accessors (AppliedIndex, LeaderID, LastContact).
func (n *Node) Status() Status {
	r := n.raft
	leaderAddr, leaderID := r.LeaderWithID()
	lastTerm, _ := strconv.ParseUint(r.Stats()["last_log_term"], 10, 64)
	return Status{
		NodeID:       n.opts.NodeID,
		State:        stateName(r.State()),
		LeaderID:     string(leaderID),
		LeaderAddr:   string(leaderAddr),
		Term:         r.CurrentTerm(),
		CommitIndex:  r.CommitIndex(),
		AppliedIndex: r.AppliedIndex(),
		LastLogIndex: r.LastIndex(),
		LastLogTerm:  lastTerm,
		LastContact:  n.lastContact(),
		LogStore:     n.store.kind,
	}
}

// lastContact is 0 on the leader and -1 before any contact.
func (n *Node) lastContact() time.Duration {
	if n.raft.State() == raft.Leader {
		return 0
	}
	last := n.raft.LastContact()
	if last.IsZero() {
		return -1
	}
	return time.Since(last)
}

// Bootstrap makes servers (all as voters, this node included) the initial
// configuration. It returns ErrExistingState if the node has any Raft state,
// so it can never fork an existing cluster.
func (n *Node) Bootstrap(servers []Server) error {
	if n.isClosed() {
		return ErrClosed
	}
	if n.HasState() {
		return ErrExistingState
	}
	cfg, err := bootstrapServers(n.opts.NodeID, servers)
	if err != nil {
		return err
	}
	err = n.raft.BootstrapCluster(raft.Configuration{Servers: cfg}).Error()
	switch {
	case errors.Is(err, raft.ErrCantBootstrap):
		return ErrExistingState
	case err != nil:
		return n.mapErr(err)
	}
	n.logger.Info("bootstrapped cluster", "servers", len(cfg))
	return nil
}

func (n *Node) isClosed() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.closed
}
