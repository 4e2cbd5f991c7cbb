package procrun

import (
	"strconv"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/internal/chaos"
	"github.com/clusteragent/agent/internal/configfile"
)

// nodeConfig is what differs between the nodes' config files.
type nodeConfig struct {
	ID              string
	DataDir         string
	GossipPort      int
	RaftPort        int
	HTTPPort        int
	Join            []string // gossip seeds, host:port
	BootstrapExpect int      // 0 for a server added to a running cluster
	LogStore        string   // raft.log_store; empty: the agent's default
}

// autopilotTimers are the autopilot settings besides those in
// chaos.AutopilotSettings, short so a run sees promotions and reaping within
// seconds of a fault.
const (
	serverStabilizationTime = 2 * time.Second
	lastContactThreshold    = time.Second
	deadServerReapAfter     = 3 * time.Second
)

// settingsFor are the autopilot settings of a cluster of n servers: every
// one of them votes, and autopilot never prunes below all of them, so a
// killed voter keeps its place until it comes back.
func settingsFor(n int) chaos.AutopilotSettings {
	return chaos.AutopilotSettings{MaxVoters: n, MinQuorum: n, DeadServerReapAfter: deadServerReapAfter}
}

// spelledOut are the keys every file names even at their default, so a
// reader of a run's files sees what the suite's timings rest on.
var spelledOut = []string{
	"bind", "advertise", "bootstrap_expect", "log_level", "log_json", "gossip.profile", "raft.multiplier",
	"autopilot.dead_server_reap_after", "autopilot.server_stabilization_time",
	"autopilot.last_contact_threshold", "autopilot.max_voters", "autopilot.min_quorum",
}

// config is the node's agent configuration. Everything on loopback; JSON
// logs so the suite can read them; the "local" gossip profile and Raft
// multiplier 1 so failures are detected as fast as the agent allows.
func (c nodeConfig) config(s chaos.AutopilotSettings) agent.Config {
	cfg := agent.DefaultConfig()
	cfg.NodeID, cfg.DataDir = c.ID, c.DataDir
	cfg.Bind, cfg.Advertise = loopback, loopback
	cfg.Join = c.Join
	cfg.BootstrapExpect = c.BootstrapExpect
	cfg.LogLevel, cfg.LogJSON = "info", true
	cfg.Ports.Gossip, cfg.Ports.Raft = c.GossipPort, c.RaftPort
	cfg.HTTP.Addr = hostPort(c.HTTPPort)
	cfg.Gossip.Profile = "local"
	cfg.Raft.Multiplier = 1
	if c.LogStore != "" {
		cfg.Raft.LogStore = c.LogStore
	}
	cfg.Autopilot.DeadServerReapAfter = s.DeadServerReapAfter
	cfg.Autopilot.ServerStabilizationTime = serverStabilizationTime
	cfg.Autopilot.LastContactThreshold = lastContactThreshold
	cfg.Autopilot.MaxVoters, cfg.Autopilot.MinQuorum = s.MaxVoters, s.MinQuorum
	return cfg
}

// render is the node's config file in the agent's HCL schema.
func (c nodeConfig) render(s chaos.AutopilotSettings) ([]byte, error) {
	return configfile.Render(c.config(s), agent.DefaultConfig(), spelledOut...)
}

// loopback is the address every node binds and advertises.
const loopback = "127.0.0.1"

func hostPort(port int) string { return loopback + ":" + strconv.Itoa(port) }
