package raftnode

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/hashicorp/raft-wal/types"
	"github.com/prometheus/client_golang/prometheus"
)

// LAN-tuned Raft timers at Multiplier 1. A follower campaigns once its
// heartbeat timer, drawn between one and two timeouts and redrawn when it
// fires too soon after the last contact, finds the leader silent for a
// timeout: one to three timeouts after the leader died. With pre-vote a
// candidate wins only once the other survivors have timed out too (a
// follower that still has a leader refuses), so a failed leader of three is
// replaced after the later of two such draws: about 0.6 to 0.9 s here, the
// new leader's first write included (make bench: -failovers). The leader
// sends heartbeats every 30 ms (a tenth of the timeout), ten chances before
// anyone campaigns, and pre-vote keeps a follower that merely stalled from
// deposing a healthy leader. Slow disks, busy hosts or WAN links raise
// Multiplier instead of editing these.
const (
	LANHeartbeatTimeout   = 300 * time.Millisecond
	LANElectionTimeout    = 300 * time.Millisecond
	LANLeaderLeaseTimeout = 250 * time.Millisecond
	// DefaultCommitTimeout is not scaled by Multiplier: it only bounds how
	// long an idle leader waits before sending a commit index update, which
	// affects follower freshness, not failure detection.
	DefaultCommitTimeout = 50 * time.Millisecond
)

// Other defaults and limits for Options.
const (
	DefaultSnapshotThreshold uint64 = 8192
	DefaultSnapshotRetain           = 2
	DefaultTrailingLogs      uint64 = 10240
	DefaultSnapshotInterval         = 30 * time.Second
	// DefaultWALSegmentSize is the size of one raft-wal segment file, as
	// Consul uses it: large enough that rotation is rare, small enough that
	// the segments kept for TrailingLogs after a snapshot cost little disk.
	DefaultWALSegmentSize = 64 << 20
	// MinWALSegmentSize keeps tests' segments small without letting a typo
	// make every append rotate.
	MinWALSegmentSize = 64 << 10
	// MaxWALSegmentSize is raft-wal's own limit on a preallocated file.
	MaxWALSegmentSize = 1<<31 - 1
	// MaxMultiplier caps Multiplier: beyond it failure detection takes
	// longer than any real network needs.
	MaxMultiplier = 10
	// maxNodeIDLen keeps IDs usable as certificate names and log keys.
	maxNodeIDLen = 128
	// maxAppendEntries is the group-commit batch and the most entries per
	// AppendEntries RPC (raft's default is 64, its limit 1024).
	maxAppendEntries = 256
)

// Loopback timers, for tests and single-host development clusters where every
// RPC stays on 127.0.0.1. They are still generous enough for the race
// detector on a small, busy machine; see SetLoopbackTimers.
const (
	loopbackHeartbeatTimeout   = 200 * time.Millisecond
	loopbackElectionTimeout    = 200 * time.Millisecond
	loopbackLeaderLeaseTimeout = 100 * time.Millisecond
	loopbackCommitTimeout      = 10 * time.Millisecond
)

// Options configures a Node. Zero values take the documented defaults;
// Validate reports the first invalid field by name.
type Options struct {
	// NodeID is this server's permanent Raft ID. Required.
	NodeID string
	// BindAddr is the "host:port" Raft listens on; port 0 picks a free port.
	// Required unless Listener is set.
	BindAddr string
	// AdvertiseAddr is the "host:port" peers dial. Default: the listener's
	// address, which must then not be an unspecified IP (0.0.0.0 or ::).
	// Port 0 here means "the listener's port".
	AdvertiseAddr string
	// DataDir holds the log and stable store (wal/ or raft.db), snapshots/
	// and a LOCK file. Required; created 0700 if missing.
	DataDir string
	// LogStore is LogStoreWAL (the default) or LogStoreBoltDB. It applies
	// to a data dir with no log store yet: one that holds raft.db or wal/
	// keeps it, whatever this says (see chooseLogStore).
	LogStore string
	// WALSegmentSize is the size in bytes of a raft-wal segment file, which
	// is preallocated. Default DefaultWALSegmentSize; at least
	// MinWALSegmentSize. Ignored for BoltDB.
	WALSegmentSize int
	// FSM is the replicated state machine. Required.
	FSM raft.FSM
	// Peers is the static peer set, node ID to "host:port", and may include
	// this node. See the package doc for how it decides bootstrapping.
	Peers map[string]string
	// JoinOnly makes the node never bootstrap; it waits to be added.
	JoinOnly bool
	// BootstrapPreferred makes this node bootstrap (with Peers if given, else
	// alone) when it has no Raft state.
	BootstrapPreferred bool
	// Listener, when set, is used instead of listening on BindAddr. The node
	// owns it from then on and closes it in Close (also when NewNode fails).
	// It lets callers know the address before the node starts, or wrap
	// connections (fault injection in tests).
	Listener net.Listener
	// Dial, when set, opens the raw TCP connections to peers; TLS, if
	// enabled, is layered on top. Default: a net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// AddressOf, when set, resolves a server's current Raft address by node
	// ID each time raft dials it, so a server that moved is reached at its
	// new address at once, before any leader rewrote the configuration (and
	// while there is no leader at all). It returns ok false to fall back to
	// the address in the configuration. raft calls it on its RPC
	// goroutines: it must not block, and must only answer from sources it
	// trusts (the agent answers from admitted gossip members). nil: always
	// the configuration's address.
	AddressOf func(id string) (addr string, ok bool)
	// TLS, when non-nil, wraps every Raft connection in mutual TLS. nil (or a
	// nil pointer of an implementing type) means plain TCP.
	TLS TLSConfigurator
	// Logger is the parent logger; the node logs under Named("raft"). Default
	// a null logger.
	Logger hclog.Logger
	// Registerer receives the node's Prometheus metrics. nil: none.
	Registerer prometheus.Registerer
	// Multiplier scales the LAN-tuned timers (1..MaxMultiplier). 0 means 1.
	Multiplier int
	// SnapshotThreshold is the number of new log entries that triggers a
	// snapshot. Default 8192.
	SnapshotThreshold uint64
	// SnapshotRetain is the number of snapshots kept on disk. Default 2.
	SnapshotRetain int
	// TrailingLogs is the number of entries kept after a snapshot so slow
	// followers can catch up without a snapshot transfer. Default 10240.
	TrailingLogs uint64
	// SnapshotInterval is how often the snapshot threshold is checked.
	// Default 30s.
	SnapshotInterval time.Duration
	// DisablePipeline replicates with one AppendEntries in flight per
	// follower instead of pipelining them. Off in production (pipelining
	// carries more writes per second). It exists for in-process tests that
	// move a server to a new address under the race detector: raft v1.8.0
	// reads a follower's address without its lock when a pipelined send
	// fails, which races with the address update (hashicorp/raft#681, fixed
	// upstream after the last release).
	DisablePipeline bool
	// HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout and CommitTimeout
	// override the timers; zero means "LAN default x Multiplier" (the commit
	// timeout is not scaled).
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout, CommitTimeout time.Duration

	// wrapVFS, settable only by this package's tests, wraps the file layer
	// raft-wal writes its segments through, so a test can make the disk
	// fail (ENOSPC) under a running node. nil, as it always is outside
	// those tests, leaves raft-wal on its own default file layer.
	wrapVFS func(types.VFS) types.VFS
}

// SetLoopbackTimers sets fast timers suited to clusters on one host (tests,
// -dev). Fields already set are kept, so a test can still override one.
func (o *Options) SetLoopbackTimers() {
	setIfZero(&o.HeartbeatTimeout, loopbackHeartbeatTimeout)
	setIfZero(&o.ElectionTimeout, loopbackElectionTimeout)
	setIfZero(&o.LeaderLeaseTimeout, loopbackLeaderLeaseTimeout)
	setIfZero(&o.CommitTimeout, loopbackCommitTimeout)
}

// withDefaults returns a copy with every zero field defaulted and the timers
// resolved. It is the only place defaults are decided.
func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if isNilInterface(o.TLS) {
		// A nil *tlsutil.Configurator stored in the interface means "no
		// TLS" to the caller; make it mean that here too.
		o.TLS = nil
	}
	if o.Multiplier == 0 {
		o.Multiplier = 1
	}
	m := time.Duration(o.Multiplier)
	setIfZero(&o.HeartbeatTimeout, LANHeartbeatTimeout*m)
	setIfZero(&o.ElectionTimeout, LANElectionTimeout*m)
	setIfZero(&o.LeaderLeaseTimeout, LANLeaderLeaseTimeout*m)
	setIfZero(&o.CommitTimeout, DefaultCommitTimeout)
	if o.SnapshotThreshold == 0 {
		o.SnapshotThreshold = DefaultSnapshotThreshold
	}
	if o.SnapshotRetain == 0 {
		o.SnapshotRetain = DefaultSnapshotRetain
	}
	if o.TrailingLogs == 0 {
		o.TrailingLogs = DefaultTrailingLogs
	}
	setIfZero(&o.SnapshotInterval, DefaultSnapshotInterval)
	if o.LogStore == "" {
		o.LogStore = LogStoreWAL
	}
	if o.WALSegmentSize == 0 {
		o.WALSegmentSize = DefaultWALSegmentSize
	}
	return o
}

// isNilInterface reports whether v is nil or holds a nil pointer.
func isNilInterface(v TLSConfigurator) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

func setIfZero(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

// Validate checks the options as NewNode would use them (after defaults)
// and names the first invalid field. It does not touch the disk or network.
func (o *Options) Validate() error {
	if o.Multiplier < 0 || o.Multiplier > MaxMultiplier {
		return invalid("Multiplier %d must be between 1 and %d (0 means 1)", o.Multiplier, MaxMultiplier)
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"HeartbeatTimeout", o.HeartbeatTimeout}, {"ElectionTimeout", o.ElectionTimeout},
		{"LeaderLeaseTimeout", o.LeaderLeaseTimeout}, {"CommitTimeout", o.CommitTimeout},
		{"SnapshotInterval", o.SnapshotInterval},
	} {
		if f.d < 0 {
			return invalid("%s %s must not be negative", f.name, f.d)
		}
	}
	if o.SnapshotRetain < 0 {
		return invalid("SnapshotRetain %d must not be negative", o.SnapshotRetain)
	}
	if o.LogStore != "" && !validLogStore(o.LogStore) {
		return invalid("LogStore %q must be %q or %q", o.LogStore, LogStoreWAL, LogStoreBoltDB)
	}
	if o.WALSegmentSize != 0 && (o.WALSegmentSize < MinWALSegmentSize || o.WALSegmentSize > MaxWALSegmentSize) {
		return invalid("WALSegmentSize %d must be between %d and %d bytes", o.WALSegmentSize, MinWALSegmentSize, MaxWALSegmentSize)
	}
	r := o.withDefaults()
	if err := validateIdentity(&r); err != nil {
		return err
	}
	if err := validatePeers(r.Peers); err != nil {
		return err
	}
	if r.JoinOnly && r.BootstrapPreferred {
		return invalid("JoinOnly and BootstrapPreferred are mutually exclusive")
	}
	return validateTimers(&r)
}

// validateIdentity checks the fields that name and locate this node.
func validateIdentity(o *Options) error {
	if err := validateServerID("NodeID", o.NodeID); err != nil {
		return err
	}
	if o.DataDir == "" {
		return invalid("DataDir is required")
	}
	if o.FSM == nil {
		return invalid("FSM is required")
	}
	if o.Listener == nil {
		if o.BindAddr == "" {
			return invalid("BindAddr is required")
		}
		if _, _, err := splitHostPort(o.BindAddr); err != nil {
			return invalid("BindAddr %q: %v", o.BindAddr, err)
		}
	}
	if o.AdvertiseAddr != "" {
		host, _, err := splitHostPort(o.AdvertiseAddr)
		if err != nil {
			return invalid("AdvertiseAddr %q: %v", o.AdvertiseAddr, err)
		}
		if err := checkAdvertisable(host); err != nil {
			return invalid("AdvertiseAddr %q: %v", o.AdvertiseAddr, err)
		}
	}
	return nil
}

// validatePeers checks the static peer set. Duplicate addresses are refused
// here because raft refuses them at bootstrap, much later and less clearly.
func validatePeers(peers map[string]string) error {
	seen := make(map[string]string, len(peers))
	for id, addr := range peers {
		if err := validateServerID("Peers key", id); err != nil {
			return err
		}
		host, port, err := splitHostPort(addr)
		if err != nil {
			return invalid("Peers[%q] = %q: %v", id, addr, err)
		}
		if port == 0 {
			return invalid("Peers[%q] = %q: port 0 cannot be dialed", id, addr)
		}
		if err := checkAdvertisable(host); err != nil {
			return invalid("Peers[%q] = %q: %v", id, addr, err)
		}
		if other, dup := seen[addr]; dup {
			return invalid("Peers[%q] and Peers[%q] share the address %q", id, other, addr)
		}
		seen[addr] = id
	}
	return nil
}

// validateTimers applies raft's own rules to the resolved timers, naming our
// fields rather than raft's.
func validateTimers(o *Options) error {
	const floor = 5 * time.Millisecond
	switch {
	case o.HeartbeatTimeout < floor:
		return invalid("HeartbeatTimeout %s is below %s", o.HeartbeatTimeout, floor)
	case o.ElectionTimeout < o.HeartbeatTimeout:
		return invalid("ElectionTimeout %s must be >= HeartbeatTimeout %s", o.ElectionTimeout, o.HeartbeatTimeout)
	case o.LeaderLeaseTimeout < floor:
		return invalid("LeaderLeaseTimeout %s is below %s", o.LeaderLeaseTimeout, floor)
	case o.LeaderLeaseTimeout > o.HeartbeatTimeout:
		return invalid("LeaderLeaseTimeout %s must be <= HeartbeatTimeout %s", o.LeaderLeaseTimeout, o.HeartbeatTimeout)
	case o.CommitTimeout < time.Millisecond:
		return invalid("CommitTimeout %s is below 1ms", o.CommitTimeout)
	case o.SnapshotInterval < floor:
		return invalid("SnapshotInterval %s is below %s", o.SnapshotInterval, floor)
	}
	return nil
}

// validateServerID accepts printable IDs without spaces: IDs appear in logs,
// certificates and CLI arguments.
func validateServerID(field, id string) error {
	if id == "" {
		return invalid("%s is required", field)
	}
	if len(id) > maxNodeIDLen {
		return invalid("%s %q is longer than %d bytes", field, id, maxNodeIDLen)
	}
	if strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		return invalid("%s %q contains spaces or unprintable characters", field, id)
	}
	return nil
}

// splitHostPort parses "host:port" with a numeric port.
func splitHostPort(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number between 0 and 65535", portStr)
	}
	return host, int(port), nil
}

// checkAdvertisable refuses hosts other nodes could not dial.
func checkAdvertisable(host string) error {
	if host == "" {
		return fmt.Errorf("host is empty")
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("%s is not an address peers can dial", host)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...)
}
