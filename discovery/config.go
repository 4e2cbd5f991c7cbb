package discovery

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
	"unicode"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusteragent/agent/internal/clock"
)

// Gossip profiles: each starts from the memberlist preset of the same name.
const (
	// ProfileLAN suits a data centre network: memberlist.DefaultLANConfig
	// with the failure detector tuned for a LAN (see lanProbeInterval).
	ProfileLAN = "lan"
	// ProfileWAN tolerates higher latency and loss (memberlist.DefaultWANConfig).
	ProfileWAN = "wan"
	// ProfileLocal suits loopback and tests (memberlist.DefaultLocalConfig).
	ProfileLocal = "local"
)

// The LAN profile's timers. memberlist's LAN preset probes each second and
// suspects for four probe intervals (shortened once two other members
// confirm), so a crashed node is declared dead 5 to 8 s after it stops.
// Round trips on a LAN are well under a millisecond, so a probe is sent
// every 400 ms and given 200 ms before the indirect probes start; a late ack
// still counts up to the 400 ms deadline, which Lifeguard's local-health
// awareness stretches up to eight times on a node that is itself falling
// behind. A member that misses it is suspect for two probe intervals, times
// log10 of the pool size past ten members (0.8 s in a small cluster, 1.8 s
// at 200), during which it refutes as soon as it hears of it; a crash is
// declared dead about 1.5 s after it happens. With a multiplier of 2
// memberlist waits for no confirmation from other members (it wants
// SuspicionMult-2 of them): with the 3 used before, a crash in a cluster of
// four took 1.6 to 2.4 s to be declared. The price is that a lone accuser's
// suspicion is not stretched (Lifeguard's longer timeout while unconfirmed),
// so a suspected member has the 0.8 s to refute.
//
// Gossip goes out every 200 ms to two members: a third less than
// memberlist's preset (three every 200 ms) and half the rate used before
// (three every 100 ms). Every alive, suspect or dead message is relayed
// about 4*log10(n) times by each member, a few messages per packet, so the
// packet rate sets how much CPU a burst of news costs per second while it
// lasts, not how much gets through: a mass join of 200 members puts
// 200*200*12 relays in flight whatever the rate. Where many members share
// a few cores, as 200 in-process members or 50 agents on a two-core machine
// do, a faster rate starved the probes and turned the join into a storm of
// false suspicions: at three per round, 200 members still fell into it in
// one run of four when other work took half the machine; at two, in none of
// ten. A message reaches most members in about log2(n) rounds (1.5 s at
// 200) rather than log3(n); a small cluster hears of a death within a round
// or two. A relay budget spent fast also runs out before a late joiner is
// known to the members still relaying, which left members unheard of until
// memberlist's next periodic push/pull, a minute or more later (see
// joinSyncDelays for how joiners catch up instead).
const (
	lanProbeInterval  = 400 * time.Millisecond
	lanProbeTimeout   = 200 * time.Millisecond
	lanSuspicionMult  = 2
	lanGossipInterval = 200 * time.Millisecond
	lanGossipNodes    = 2
)

// DefaultPort is the gossip port used when Config.BindPort is left at its
// default and for seeds given without a port.
const DefaultPort = 7946

// Defaults applied by New to zero-valued fields.
const (
	defaultBindAddr       = "0.0.0.0"
	defaultEventBuffer    = 256
	defaultJoinBackoffMin = 500 * time.Millisecond
	defaultJoinBackoffMax = 30 * time.Second
	defaultRejoinInterval = 10 * time.Second
	defaultDeadRetention  = 72 * time.Hour
	// defaultDeadNodeReclaimTime lets a node ID come back at a new address
	// as soon as the failure detector has declared its old incarnation
	// dead: a node restarted with its data at a new address (a rescheduled
	// pod, a new VM) is the common case, and memberlist's own protection
	// against two live nodes sharing a name still holds, because a live
	// old incarnation is never dead. Waiting 30s, as before, kept a moved
	// server out of gossip, and so out of Raft, for half a minute.
	defaultDeadNodeReclaimTime = time.Millisecond
	defaultUpdateTimeout       = 5 * time.Second
)

// Config configures a Gossip. Start from DefaultConfig (production) or
// LoopbackConfig (tests, dev); zero durations and sizes mean the default.
type Config struct {
	// NodeID is required: the memberlist node name and Meta.ID.
	NodeID string
	// BindAddr is the IP the TCP and UDP listeners bind. Default "0.0.0.0".
	BindAddr string
	// BindPort is the gossip port. DefaultConfig sets 7946; 0 picks a free port.
	BindPort int
	// AdvertiseAddr is the IP other nodes use to reach this one. Default: the
	// bind address, or a private IP when bound to 0.0.0.0.
	AdvertiseAddr string
	// AdvertisePort is the advertised port. 0: the bound port.
	AdvertisePort int
	// Profile is "lan" (default), "wan" or "local": the memberlist timer preset.
	Profile string
	// Seeds are host:port, IP or DNS names, or SRVPrefix and a DNS SRV name
	// ("srv+_agent._tcp.agents.example"); a name resolving to several
	// addresses (or SRV records) yields several seeds. Names are resolved at
	// every attempt, so DNS changes are seen, and a name that fails or
	// resolves to nothing is retried with backoff. The port defaults to
	// BindPort (DefaultPort when BindPort is 0); SRV records carry their own.
	Seeds []string
	// Resolver looks up seed names. Default net.DefaultResolver; tests give
	// a *net.Resolver whose Dial reaches their own DNS server.
	Resolver Resolver
	// Meta is the initial local metadata; Meta.ID is forced to NodeID.
	Meta Meta
	// SecretKey is an optional 16, 24 or 32-byte AES-GCM gossip key. Nodes
	// with another key (or none) cannot talk to this one. With DataDir set it
	// only seeds DataDir/gossip/keyring.json: once that file exists, it wins
	// (it holds the keys rotated in with InstallKey, UseKey and RemoveKey).
	SecretKey []byte
	// AllowUnencrypted turns off the verification of gossip encryption: this
	// node sends in the clear and accepts both clear and encrypted gossip.
	// It exists only to convert a running cluster to encryption node by node
	// and is logged as a warning while on. Default false.
	AllowUnencrypted bool
	// DataDir, when set, holds gossip/peers.json: the last known members, used
	// to rejoin after a restart when the seeds are gone.
	DataDir string
	// Logger is the parent logger; Gossip logs under Named("gossip"), and so
	// does memberlist. Default: a logger that discards everything.
	Logger hclog.Logger
	// EventBuffer is the capacity of the Events channel. Default 256. When it
	// is full, events are dropped and counted, never blocking memberlist.
	EventBuffer int
	// JoinBackoffMin and JoinBackoffMax bound the jittered exponential backoff
	// between join attempts. Defaults 500ms and 30s.
	JoinBackoffMin, JoinBackoffMax time.Duration
	// RejoinInterval is how often, once joined, Gossip checks for remembered
	// members that are missing or dead and re-joins the seeds and up to three
	// of the missing members' addresses. This heals partitions that outlast
	// memberlist's memory of dead nodes. Default 10s.
	RejoinInterval time.Duration
	// DeadRetention is how long dead and left members stay in Members (and in
	// the remembered set) unless Forget is called. Default 72h.
	DeadRetention time.Duration
	// UpdateTimeout bounds how long UpdateMeta waits for the broadcast to
	// leave this node. Default 5s.
	UpdateTimeout time.Duration
	// Registerer, when set, receives gossip_members{status} and
	// gossip_events_dropped_total. They are unregistered on Shutdown.
	Registerer prometheus.Registerer
	// Clock drives this package's own timers (backoff, rejoin, persistence,
	// Since). Default: the wall clock. memberlist keeps its own timers.
	Clock clock.Clock

	// WrapTransport, when set, wraps the gossip transport: discovery then
	// creates memberlist's NetTransport itself from BindAddr and BindPort and
	// hands memberlist the wrapper instead. It exists for tests that inject
	// network faults between nodes; nil (the default) leaves memberlist to
	// create its transport as usual. The wrapper's Shutdown must shut the
	// inner transport down: memberlist calls it from Gossip.Shutdown.
	WrapTransport func(memberlist.NodeAwareTransport) memberlist.NodeAwareTransport

	// Tuning overrides for tests; zero keeps the profile's value.

	// ProbeInterval is the failure-detector probe period.
	ProbeInterval time.Duration
	// ProbeTimeout is the wait for a probe ack.
	ProbeTimeout time.Duration
	// SuspicionMult scales how long a suspect node has to refute.
	SuspicionMult int
	// GossipInterval is the gossip fan-out period.
	GossipInterval time.Duration
	// PushPullInterval is the full state sync period.
	PushPullInterval time.Duration
	// GossipToTheDeadTime is how long memberlist keeps gossiping to (and
	// remembering) a dead node.
	GossipToTheDeadTime time.Duration
	// TCPTimeout bounds each join dial and push/pull.
	TCPTimeout time.Duration
	// DeadNodeReclaimTime lets a node ID that has been dead this long come back
	// at a new address. Zero means the default, 1ms (as soon as it is dead);
	// negative never allows it.
	DeadNodeReclaimTime time.Duration
}

// DefaultConfig returns the production defaults. NodeID must still be set.
func DefaultConfig() Config {
	return Config{
		BindAddr:            defaultBindAddr,
		BindPort:            DefaultPort,
		Profile:             ProfileLAN,
		EventBuffer:         defaultEventBuffer,
		JoinBackoffMin:      defaultJoinBackoffMin,
		JoinBackoffMax:      defaultJoinBackoffMax,
		RejoinInterval:      defaultRejoinInterval,
		DeadRetention:       defaultDeadRetention,
		UpdateTimeout:       defaultUpdateTimeout,
		DeadNodeReclaimTime: defaultDeadNodeReclaimTime,
	}
}

// LoopbackConfig returns a configuration for tests and dev: 127.0.0.1, a
// free port, the local profile and fast timers so that failures are detected
// within about a second.
func LoopbackConfig() Config {
	c := DefaultConfig()
	c.BindAddr = "127.0.0.1"
	c.BindPort = 0
	c.Profile = ProfileLocal
	c.JoinBackoffMin = 50 * time.Millisecond
	c.JoinBackoffMax = time.Second
	c.RejoinInterval = time.Second
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.SuspicionMult = 2
	c.GossipInterval = 50 * time.Millisecond
	c.PushPullInterval = 2 * time.Second
	c.GossipToTheDeadTime = 5 * time.Second
	return c
}

// withDefaults fills the zero-valued optional fields.
func (c Config) withDefaults() Config {
	if c.BindAddr == "" {
		c.BindAddr = defaultBindAddr
	}
	if c.Profile == "" {
		c.Profile = ProfileLAN
	}
	if c.EventBuffer == 0 {
		c.EventBuffer = defaultEventBuffer
	}
	if c.JoinBackoffMax == 0 {
		c.JoinBackoffMax = defaultJoinBackoffMax
	}
	if c.JoinBackoffMin == 0 {
		c.JoinBackoffMin = min(defaultJoinBackoffMin, c.JoinBackoffMax)
	}
	if c.RejoinInterval == 0 {
		c.RejoinInterval = defaultRejoinInterval
	}
	if c.DeadRetention == 0 {
		c.DeadRetention = defaultDeadRetention
	}
	if c.UpdateTimeout == 0 {
		c.UpdateTimeout = defaultUpdateTimeout
	}
	if c.DeadNodeReclaimTime == 0 {
		c.DeadNodeReclaimTime = defaultDeadNodeReclaimTime
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	c.Meta.ID = c.NodeID
	return c
}

// Validate reports the first invalid field. Zero values that have a default
// are valid.
func (c *Config) Validate() error {
	e := c.withDefaults()
	for _, check := range []func() error{e.validateIdentity, e.validateNetwork, e.validateTimers} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func fieldErr(field, format string, args ...any) error {
	return newFieldError(ErrInvalidConfig, field, format, args...)
}

func (c Config) validateIdentity() error {
	if c.NodeID == "" {
		return fieldErr("NodeID", "is required")
	}
	if len(c.NodeID) > maxIDLen {
		return fieldErr("NodeID", "is %d bytes, at most %d allowed", len(c.NodeID), maxIDLen)
	}
	if i := strings.IndexFunc(c.NodeID, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }); i >= 0 {
		return fieldErr("NodeID", "%q contains a space or control character at byte %d", c.NodeID, i)
	}
	if _, err := EncodeMeta(c.Meta); err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			return fieldErr(fe.field, "%s", fe.msg)
		}
		return fieldErr("Meta", "%v", err)
	}
	switch len(c.SecretKey) {
	case 0, 16, 24, 32:
	default:
		return fieldErr("SecretKey", "is %d bytes; must be 16, 24 or 32", len(c.SecretKey))
	}
	if c.EventBuffer < 0 {
		return fieldErr("EventBuffer", "is %d; must not be negative", c.EventBuffer)
	}
	return nil
}

func (c Config) validateNetwork() error {
	if net.ParseIP(c.BindAddr) == nil {
		return fieldErr("BindAddr", "%q is not an IP address", c.BindAddr)
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		return fieldErr("AdvertiseAddr", "%q is not an IP address", c.AdvertiseAddr)
	}
	if c.BindPort < 0 || c.BindPort > 65535 {
		return fieldErr("BindPort", "%d is out of range 0-65535", c.BindPort)
	}
	if c.AdvertisePort < 0 || c.AdvertisePort > 65535 {
		return fieldErr("AdvertisePort", "%d is out of range 0-65535", c.AdvertisePort)
	}
	switch c.Profile {
	case ProfileLAN, ProfileWAN, ProfileLocal:
	default:
		return fieldErr("Profile", "%q is not one of %q, %q, %q", c.Profile, ProfileLAN, ProfileWAN, ProfileLocal)
	}
	for i, s := range c.Seeds {
		if _, err := parseSeed(s, c.seedPort()); err != nil {
			return fieldErr(fmt.Sprintf("Seeds[%d]", i), "%v", err)
		}
	}
	return nil
}

func (c Config) validateTimers() error {
	durations := []struct {
		field string
		d     time.Duration
	}{
		{"JoinBackoffMin", c.JoinBackoffMin}, {"JoinBackoffMax", c.JoinBackoffMax},
		{"RejoinInterval", c.RejoinInterval}, {"DeadRetention", c.DeadRetention},
		{"UpdateTimeout", c.UpdateTimeout}, {"ProbeInterval", c.ProbeInterval},
		{"ProbeTimeout", c.ProbeTimeout}, {"GossipInterval", c.GossipInterval},
		{"PushPullInterval", c.PushPullInterval}, {"GossipToTheDeadTime", c.GossipToTheDeadTime},
		{"TCPTimeout", c.TCPTimeout},
	}
	for _, d := range durations {
		if d.d < 0 {
			return fieldErr(d.field, "is %s; must not be negative", d.d)
		}
	}
	if c.SuspicionMult < 0 {
		return fieldErr("SuspicionMult", "is %d; must not be negative", c.SuspicionMult)
	}
	if c.JoinBackoffMin > c.JoinBackoffMax {
		return fieldErr("JoinBackoffMin", "(%s) exceeds JoinBackoffMax (%s)", c.JoinBackoffMin, c.JoinBackoffMax)
	}
	return nil
}

// seedPort is the port assumed for seeds given without one.
func (c Config) seedPort() int {
	if c.BindPort > 0 {
		return c.BindPort
	}
	return DefaultPort
}

// memberlistConfig maps the profile and overrides onto a memberlist config.
// Delegates and the logger are added by New. c must have defaults applied.
func (c Config) memberlistConfig() (*memberlist.Config, error) {
	var mc *memberlist.Config
	switch c.Profile {
	case ProfileWAN:
		mc = memberlist.DefaultWANConfig()
	case ProfileLocal:
		mc = memberlist.DefaultLocalConfig()
	default:
		mc = memberlist.DefaultLANConfig()
		mc.ProbeInterval, mc.ProbeTimeout = lanProbeInterval, lanProbeTimeout
		mc.SuspicionMult, mc.GossipInterval = lanSuspicionMult, lanGossipInterval
		mc.GossipNodes = lanGossipNodes
	}
	if c.Profile != ProfileWAN {
		// memberlist compresses every packet it sends, pings and acks
		// included, with a fresh LZW writer whose tables are allocated each
		// time; in a mass join of 200 members that and the garbage it made
		// were about a third of the CPU. A packet carries as many messages
		// either way (they are packed before compression), so on a LAN it
		// only saves bandwidth nobody is short of. Receivers accept both
		// forms, so nodes with and without it mix.
		mc.EnableCompression = false
	}
	mc.Name = c.NodeID
	mc.BindAddr = c.BindAddr
	mc.BindPort = c.BindPort
	mc.AdvertiseAddr = c.AdvertiseAddr
	mc.AdvertisePort = c.AdvertisePort
	if mc.AdvertisePort == 0 {
		// memberlist replaces it with the picked port when BindPort is 0.
		mc.AdvertisePort = c.BindPort
	}
	setIfPositive(&mc.ProbeInterval, c.ProbeInterval)
	setIfPositive(&mc.ProbeTimeout, c.ProbeTimeout)
	setIfPositive(&mc.GossipInterval, c.GossipInterval)
	setIfPositive(&mc.PushPullInterval, c.PushPullInterval)
	setIfPositive(&mc.GossipToTheDeadTime, c.GossipToTheDeadTime)
	setIfPositive(&mc.TCPTimeout, c.TCPTimeout)
	if c.SuspicionMult > 0 {
		mc.SuspicionMult = c.SuspicionMult
	}
	if c.DeadNodeReclaimTime > 0 {
		mc.DeadNodeReclaimTime = c.DeadNodeReclaimTime
	}
	if len(c.SecretKey) > 0 {
		kr, err := memberlist.NewKeyring(nil, c.SecretKey)
		if err != nil {
			return nil, fieldErr("SecretKey", "%v", err)
		}
		mc.Keyring = kr
		mc.GossipVerifyIncoming = !c.AllowUnencrypted
		mc.GossipVerifyOutgoing = !c.AllowUnencrypted
	}
	return mc, nil
}

func setIfPositive(dst *time.Duration, v time.Duration) {
	if v > 0 {
		*dst = v
	}
}
