package agent

import (
	"encoding/base64"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"time"

	"github.com/clusteragent/agent/discovery"
	"github.com/clusteragent/agent/tlsutil"
)

// Config is everything an agent needs to run. cmd/agent builds it from the HCL
// file and flags; tests build it with DefaultConfig or LoopbackConfig and
// override fields. The yaml-less field names mirror the HCL keys, which are
// given in each comment because validation errors name keys, not Go fields.
type Config struct {
	// NodeID (node_id) is this node's stable identity in gossip and Raft.
	// Empty means: read it from DataDir, or generate one and persist it there.
	NodeID string
	// DataDir (data_dir) holds Raft state, snapshots, the node and cluster IDs
	// and the remembered gossip members. Default "./data".
	DataDir string
	// Bind (bind) is the address the gossip and Raft listeners bind: an IP
	// or a go-sockaddr template yielding exactly one. Default "0.0.0.0".
	Bind string
	// Advertise (advertise) is the address other nodes use to reach this one:
	// an IP or a template yielding exactly one. Default: Bind, or when Bind
	// is unspecified the host's private IPv4 address (the one on the
	// default-route interface when there are several; an error naming them
	// when that does not decide).
	Advertise string
	// Ports (ports block).
	Ports PortsConfig
	// HTTP (http block): the client API.
	HTTP HTTPConfig
	// Join (join) lists seed addresses: IP or host, with an optional :port
	// (default the gossip port), "srv+" and a DNS SRV name, or a template
	// yielding one or more of those. Names are resolved at every join
	// attempt; one resolving to several addresses gives several seeds.
	Join []string
	// BootstrapExpect (bootstrap_expect) waits for this many servers in gossip,
	// then forms exactly one cluster of them. 0 disables it.
	BootstrapExpect int
	// Peers (peers) is the static peer set, node ID to raft host:port. The
	// lowest ID bootstraps them all.
	Peers map[string]string
	// BootstrapPreferred (bootstrap_preferred): this node bootstraps the cluster.
	BootstrapPreferred bool
	// NoBootstrap (no_bootstrap): never bootstrap; wait to be added.
	NoBootstrap bool
	// Server (server): false makes this a gossip-only member that never enters Raft.
	// Default true.
	Server bool
	// Zone (zone) spreads voters across failure domains.
	Zone string
	// LogLevel (log_level): trace, debug, info, warn, error. Default info.
	LogLevel string
	// LogJSON (log_json) writes logs as JSON lines.
	LogJSON bool
	// LeaveOnTerminate (leave_on_terminate): on SIGTERM/SIGINT leave gossip and
	// Raft instead of keeping this node's place for a restart.
	LeaveOnTerminate bool
	// Dev (-dev only): one self-bootstrapping agent on loopback with a
	// temporary data dir.
	Dev bool

	// Gossip (gossip block).
	Gossip GossipConfig
	// TLS (tls block): mutual TLS between agents.
	TLS TLSConfig
	// Raft (raft block).
	Raft RaftConfig
	// Autopilot (autopilot block).
	Autopilot AutopilotConfig
	// KV (kv block).
	KV KVConfig
	// Snapshot (snapshot block): scheduled snapshots.
	Snapshot SnapshotConfig

	// Tuning holds timers that tests and the chaos suite shorten. It is not
	// part of the HCL surface.
	Tuning Tuning
}

// PortsConfig is the ports block.
type PortsConfig struct {
	// Gossip (ports.gossip) is the memberlist TCP+UDP port. Default 7946; 0 picks a free port.
	Gossip int
	// Raft (ports.raft) is the Raft transport port. Default 7000; 0 picks a free port.
	Raft int
}

// HTTPConfig is the http block.
type HTTPConfig struct {
	// Addr (http.addr) is the client API listen address. Default "127.0.0.1:7070";
	// port 0 picks a free port.
	Addr string
	// Token (http.token), when set, is required as "Authorization: Bearer TOKEN".
	Token string
	// OpenReads (http.open_reads) lets GET requests for cluster state and
	// keys through without the token; writes and operator calls still need it.
	OpenReads bool
	// TLS (http.tls) serves the client API over HTTPS with the tls block's material.
	TLS bool
	// VerifyClient (http.verify_client) makes the HTTPS client API require a
	// client certificate signed by the tls block's CA. Needs http.tls. Default false.
	VerifyClient bool
	// LeaderWait (http.leader_wait): how long writes and linearizable reads
	// wait for a leader to be elected before answering 503. Default 5s.
	LeaderWait time.Duration
	// EnableDebug (http.enable_debug) serves Go's profiler at /debug/pprof/
	// (behind the token, like every operator endpoint), for profiling an
	// agent under load. Default false.
	EnableDebug bool
}

// KVConfig is the kv block: limits of the key/value store.
type KVConfig struct {
	// MaxValueBytes (kv.max_value_bytes): the largest value accepted. Default 524288 (512 KiB).
	MaxValueBytes int
}

// GossipConfig is the gossip block.
type GossipConfig struct {
	// Encrypt (gossip.encrypt) is a base64 16, 24 or 32-byte key; empty disables encryption.
	// It seeds data_dir/gossip/keyring.json; once that file exists it wins, so
	// keys rotated with `agent keyring` survive restarts.
	Encrypt string
	// Profile (gossip.profile) is lan, wan or local. Default lan.
	Profile string
	// AllowUnencrypted (gossip.allow_unencrypted) sends gossip unencrypted and
	// accepts both forms: only for converting a running cluster to
	// encryption node by node, and logged as a warning while on. Default false.
	AllowUnencrypted bool
}

// TLSConfig is the tls block.
type TLSConfig struct {
	// Enable (tls.enable) turns on mutual TLS for Raft and agent-to-agent calls.
	Enable bool
	// CAFile (tls.ca_file) is the PEM CA bundle peers are verified against.
	CAFile string
	// CertFile (tls.cert_file) is this node's PEM certificate.
	CertFile string
	// KeyFile (tls.key_file) is this node's PEM private key.
	KeyFile string
	// MinVersion (tls.min_version) is tls12 or tls13. Default tls12.
	MinVersion string
	// ServerNames (tls.server_names), when not empty, admits to Raft and the
	// agent-to-agent API only peers whose certificate carries one of these
	// names (DNS SAN or common name; "*.suffix" matches one label). Empty
	// (the default): any certificate from the CA.
	ServerNames []string
}

// RaftConfig is the raft block.
type RaftConfig struct {
	// SnapshotThreshold (raft.snapshot_threshold): log entries between snapshots. Default 8192.
	SnapshotThreshold uint64
	// SnapshotRetain (raft.snapshot_retain): snapshots kept on disk. Default 2.
	SnapshotRetain int
	// TrailingLogs (raft.trailing_logs): entries kept after a snapshot. Default 10240.
	TrailingLogs uint64
	// Multiplier (raft.multiplier) scales the LAN-tuned Raft timers (1..10). Default 1.
	Multiplier int
	// LogStore (raft.log_store) is "wal" (default) or "boltdb". It applies
	// to a data dir with no Raft log yet; one that holds raft.db or wal/
	// keeps its store (agent raft migrate-store converts a stopped node).
	LogStore string
	// WALSegmentSizeMB (raft.wal_segment_size_mb) is the size of one
	// write-ahead log segment file, preallocated, in MiB. Default 64.
	WALSegmentSizeMB int
}

// AutopilotConfig is the autopilot block.
type AutopilotConfig struct {
	// CleanupDeadServers (autopilot.cleanup_dead_servers) removes failed servers from Raft. Default true.
	CleanupDeadServers bool
	// DeadServerReapAfter (autopilot.dead_server_reap_after): how long a member must be
	// dead in gossip before it is removed from Raft. Default 30s.
	DeadServerReapAfter time.Duration
	// ServerStabilizationTime (autopilot.server_stabilization_time): how long a new server
	// must be healthy before it is promoted to voter. Default 10s.
	ServerStabilizationTime time.Duration
	// LastContactThreshold (autopilot.last_contact_threshold): a server without leader
	// contact for longer is unhealthy. Default 200ms.
	LastContactThreshold time.Duration
	// MaxTrailingLogs (autopilot.max_trailing_logs): a server further behind is unhealthy. Default 250.
	MaxTrailingLogs uint64
	// MinQuorum (autopilot.min_quorum): never prune below this many voters.
	// 0 means bootstrap_expect, or the number of static peers.
	MinQuorum int
	// MaxVoters (autopilot.max_voters): voters are capped here, spread across zones. Default 5.
	MaxVoters int
}

// Tuning holds internal timers. Zero values mean the production default.
type Tuning struct {
	// ReconcileInterval is how often the leader runs a full gossip-to-Raft
	// reconcile and autopilot's promote/prune pass. Default 1s.
	ReconcileInterval time.Duration
	// AutopilotUpdateInterval is how often autopilot refreshes server health. Default 1s.
	AutopilotUpdateInterval time.Duration
	// RaftHeartbeatTimeout etc. override the Raft timers (tests).
	RaftHeartbeatTimeout, RaftElectionTimeout, RaftLeaderLeaseTimeout time.Duration
	// RaftDisablePipeline turns off pipelined replication, for tests that
	// move servers under the race detector (raftnode.Options.DisablePipeline).
	RaftDisablePipeline bool
	// Gossip timer overrides (tests).
	GossipProbeInterval, GossipProbeTimeout, GossipInterval, GossipPushPullInterval time.Duration
	GossipSuspicionMult                                                             int
	// JoinBackoffMax caps the seed-join retry backoff. Default 30s.
	JoinBackoffMax time.Duration
	// RejoinInterval is how often a node missing known servers re-joins. Default 10s.
	RejoinInterval time.Duration
	// ShutdownTimeout bounds the graceful parts of Shutdown. Default 10s.
	ShutdownTimeout time.Duration
	// TLSWatchInterval is how often the tls block's files are checked for
	// changes, which trigger a reload. Default 5s; negative turns the
	// watcher off (SIGHUP and the API still reload).
	TLSWatchInterval time.Duration
}

// DefaultConfig returns the production defaults documented in config.hcl.example.
func DefaultConfig() Config {
	return Config{
		DataDir:  "./data",
		Bind:     "0.0.0.0",
		Ports:    PortsConfig{Gossip: 7946, Raft: 7000},
		HTTP:     HTTPConfig{Addr: "127.0.0.1:7070", LeaderWait: 5 * time.Second},
		KV:       KVConfig{MaxValueBytes: 512 << 10},
		Snapshot: SnapshotConfig{Retain: 24},
		Server:   true,
		LogLevel: "info",
		Gossip:   GossipConfig{Profile: "lan"},
		TLS:      TLSConfig{MinVersion: "tls12"},
		Raft: RaftConfig{
			SnapshotThreshold: 8192,
			SnapshotRetain:    2,
			TrailingLogs:      10240,
			Multiplier:        1,
			LogStore:          "wal",
			WALSegmentSizeMB:  64,
		},
		Autopilot: AutopilotConfig{
			CleanupDeadServers:      true,
			DeadServerReapAfter:     30 * time.Second,
			ServerStabilizationTime: 10 * time.Second,
			LastContactThreshold:    200 * time.Millisecond,
			MaxTrailingLogs:         250,
			MaxVoters:               5,
		},
	}
}

// DevConfig is what `agent run -dev` uses: one self-bootstrapping server on
// loopback. The caller sets DataDir to a temporary directory.
func DevConfig() Config {
	c := DefaultConfig()
	c.Dev = true
	c.NodeID = "dev"
	c.Bind = "127.0.0.1"
	c.Advertise = "127.0.0.1"
	c.Gossip.Profile = "local"
	c.BootstrapPreferred = true
	c.Autopilot.ServerStabilizationTime = time.Second
	return c
}

// LoopbackConfig is a test profile: every port picked by the kernel on
// 127.0.0.1, fast timers, a data dir the caller provides.
func LoopbackConfig(nodeID, dataDir string) Config {
	c := DefaultConfig()
	c.NodeID = nodeID
	c.DataDir = dataDir
	c.Bind = "127.0.0.1"
	c.Advertise = "127.0.0.1"
	c.Ports = PortsConfig{Gossip: 0, Raft: 0}
	c.HTTP.Addr = "127.0.0.1:0"
	c.Gossip.Profile = "local"
	c.Autopilot.ServerStabilizationTime = time.Second
	c.Autopilot.DeadServerReapAfter = 5 * time.Second
	c.Autopilot.LastContactThreshold = time.Second
	// Tests start many nodes: 1 MiB segments keep their preallocation small.
	c.Raft.WALSegmentSizeMB = 1
	c.Tuning = Tuning{
		ReconcileInterval:       250 * time.Millisecond,
		AutopilotUpdateInterval: 250 * time.Millisecond,
		RaftHeartbeatTimeout:    500 * time.Millisecond,
		RaftElectionTimeout:     500 * time.Millisecond,
		RaftLeaderLeaseTimeout:  250 * time.Millisecond,
		GossipProbeInterval:     200 * time.Millisecond,
		GossipProbeTimeout:      100 * time.Millisecond,
		GossipInterval:          50 * time.Millisecond,
		GossipPushPullInterval:  2 * time.Second,
		GossipSuspicionMult:     2,
		JoinBackoffMax:          time.Second,
		RejoinInterval:          time.Second,
		ShutdownTimeout:         5 * time.Second,
	}
	c.HTTP.LeaderWait = 3 * time.Second
	return c
}

// MaxValueLimit is the largest kv.max_value_bytes allowed: a value travels
// in one Raft log entry, and entries of many megabytes stall replication.
const MaxValueLimit = 16 << 20

var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidNodeID reports whether id may be used as a node ID: 1 to 64 letters,
// digits, '.', '_' or '-', starting with a letter or digit.
func ValidNodeID(id string) bool { return nodeIDPattern.MatchString(id) }

// Validate checks every field and names the HCL key of the first bad one.
func (c *Config) Validate() error {
	// One check per concern, in the order a reader meets the keys; the first
	// error wins, naming its key.
	checks := []func() error{
		c.validateIdentity,
		c.validateAddresses,
		c.validatePorts,
		c.validateHTTP,
		c.validateBootstrap,
		c.validateLogging,
		c.Gossip.validate,
		c.TLS.validate,
		c.Raft.validate,
		c.Snapshot.validate,
		func() error { return c.Autopilot.validate(c.EffectiveMinQuorum()) },
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// validateAddresses checks bind, advertise and join. A template is only
// parsed here (Validate reads nothing of the host); New resolves it.
func (c *Config) validateAddresses() error {
	env := systemNetEnv()
	check := func(key, v string) error {
		if isAddrTemplate(v) {
			_, err := parseAddrTemplate(key, v, env)
			return err
		}
		if net.ParseIP(v) == nil {
			return fieldErr(key, "%q is not an IP address or an address template", v)
		}
		return nil
	}
	if err := check("bind", c.Bind); err != nil {
		return err
	}
	if c.Advertise != "" {
		if err := check("advertise", c.Advertise); err != nil {
			return err
		}
		if net.ParseIP(c.Advertise).IsUnspecified() {
			return fieldErr("advertise", "%q is unspecified; give an address other nodes can reach", c.Advertise)
		}
	}
	for _, j := range c.Join {
		switch {
		case j == "":
			return fieldErr("join", "an empty address was given")
		case isAddrTemplate(j):
			if _, err := parseAddrTemplate("join", j, env); err != nil {
				return err
			}
		default:
			if err := discovery.ValidateSeed(j); err != nil {
				return fieldErr("join", "seed %v", err)
			}
		}
	}
	return nil
}

func (c *Config) validatePeers() error {
	for id, addr := range c.Peers {
		if !ValidNodeID(id) {
			return fieldErr("peers", "%q is not a valid node ID", id)
		}
		if err := checkHostPort("peers", addr); err != nil {
			return fmt.Errorf("peer %q: %w", id, err)
		}
	}
	return nil
}

func (c *Config) validateBootstrapModes() error {
	modes := 0
	for _, on := range []bool{c.BootstrapExpect > 0, len(c.Peers) > 0 && !c.BootstrapPreferred, c.NoBootstrap, c.BootstrapPreferred} {
		if on {
			modes++
		}
	}
	if c.NoBootstrap && (c.BootstrapPreferred || c.BootstrapExpect > 0) {
		return fieldErr("no_bootstrap", "cannot be combined with bootstrap_expect or bootstrap_preferred")
	}
	if c.BootstrapExpect > 0 && (len(c.Peers) > 0 || c.BootstrapPreferred) {
		return fieldErr("bootstrap_expect", "cannot be combined with %s", expectConflict(c))
	}
	if !c.Server && (modes > 0 && !c.NoBootstrap) {
		return fieldErr("server", "a gossip-only member (server = false) cannot bootstrap; drop bootstrap_expect, peers and bootstrap_preferred")
	}
	return nil
}

func (g GossipConfig) validate() error {
	switch g.Profile {
	case "lan", "wan", "local":
	default:
		return fieldErr("gossip.profile", "%q is not one of lan, wan, local", g.Profile)
	}
	if g.Encrypt != "" {
		if _, err := DecodeGossipKey(g.Encrypt); err != nil {
			return fieldErr("gossip.encrypt", "%v", err)
		}
	}
	return nil
}

// DecodeGossipKey decodes a base64 gossip key and checks its length.
func DecodeGossipKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not valid base64")
	}
	switch len(key) {
	case 16, 24, 32:
		return key, nil
	}
	return nil, fmt.Errorf("key is %d bytes; it must be 16, 24 or 32 bytes (agent keygen makes one)", len(key))
}

func (t TLSConfig) validate() error {
	switch t.MinVersion {
	case "tls12", "tls13":
	default:
		return fieldErr("tls.min_version", "%q is not one of tls12, tls13", t.MinVersion)
	}
	if err := tlsutil.ValidateServerNames(t.ServerNames); err != nil {
		return fieldErr("tls.server_names", "%v", err)
	}
	if !t.Enable {
		if len(t.ServerNames) > 0 {
			return fieldErr("tls.server_names", "needs tls.enable = true")
		}
		return nil
	}
	for key, v := range map[string]string{"tls.ca_file": t.CAFile, "tls.cert_file": t.CertFile, "tls.key_file": t.KeyFile} {
		if v == "" {
			return fieldErr(key, "is required when tls.enable = true")
		}
	}
	return nil
}

func (r RaftConfig) validate() error {
	if r.SnapshotThreshold == 0 {
		return fieldErr("raft.snapshot_threshold", "must be at least 1")
	}
	if r.SnapshotRetain < 1 {
		return fieldErr("raft.snapshot_retain", "must be at least 1, got %d", r.SnapshotRetain)
	}
	if r.Multiplier < 1 || r.Multiplier > 10 {
		return fieldErr("raft.multiplier", "must be between 1 and 10, got %d", r.Multiplier)
	}
	if r.LogStore != "wal" && r.LogStore != "boltdb" {
		return fieldErr("raft.log_store", "must be \"wal\" or \"boltdb\", got %q", r.LogStore)
	}
	if r.WALSegmentSizeMB < 1 || r.WALSegmentSizeMB > 2047 {
		return fieldErr("raft.wal_segment_size_mb", "must be between 1 and 2047, got %d", r.WALSegmentSizeMB)
	}
	return nil
}

func (a AutopilotConfig) validate(minQuorum int) error {
	if a.DeadServerReapAfter < 0 {
		return fieldErr("autopilot.dead_server_reap_after", "must not be negative")
	}
	if a.ServerStabilizationTime < 0 {
		return fieldErr("autopilot.server_stabilization_time", "must not be negative")
	}
	if a.LastContactThreshold <= 0 {
		return fieldErr("autopilot.last_contact_threshold", "must be positive")
	}
	if a.MinQuorum < 0 {
		return fieldErr("autopilot.min_quorum", "must be 0 or more, got %d", a.MinQuorum)
	}
	if a.MaxVoters < 1 {
		return fieldErr("autopilot.max_voters", "must be at least 1, got %d", a.MaxVoters)
	}
	if minQuorum > a.MaxVoters {
		return fieldErr("autopilot.min_quorum", "the effective minimum quorum %d exceeds autopilot.max_voters %d", minQuorum, a.MaxVoters)
	}
	return nil
}

// EffectiveMinQuorum is autopilot.min_quorum, or bootstrap_expect, or the
// number of static peers: autopilot never shrinks the cluster below the size
// it was built for.
func (c *Config) EffectiveMinQuorum() int {
	switch {
	case c.Autopilot.MinQuorum > 0:
		return c.Autopilot.MinQuorum
	case c.BootstrapExpect > 0:
		return c.BootstrapExpect
	default:
		return len(c.Peers)
	}
}

// ConfigError is a validation error naming the HCL key at fault.
type ConfigError struct {
	Key string
	Msg string
}

// Error reads "key: message", the form cmd/agent prefixes with file and line.
func (e *ConfigError) Error() string { return e.Key + ": " + e.Msg }

func fieldErr(key, format string, args ...any) error {
	return &ConfigError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

func checkPort(key string, p int) error {
	if p < 0 || p > 65535 {
		return fieldErr(key, "%d is not a port (0-65535)", p)
	}
	return nil
}

func checkHostPort(key, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fieldErr(key, "%q is not host:port", addr)
	}
	if host == "" {
		return fieldErr(key, "%q has no host", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fieldErr(key, "%q has an invalid port", addr)
	}
	return nil
}
