package agentcluster

import (
	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/internal/configfile"
	"github.com/clusteragent/agent/internal/freeport"
)

// nodeConfig is what differs between the nodes' config files.
type nodeConfig struct {
	ID              string
	DataDir         string
	GossipPort      int
	RaftPort        int
	HTTPPort        int
	Join            string // gossip seed, host:port
	BootstrapExpect int    // 0: never bootstraps, waits to be added
	GossipOnly      bool   // server = false
	LogStore        string // raft.log_store; "" for the agent's default
	EnableDebug     bool   // http.enable_debug: /debug/pprof for profiles
	// Configure, when set, changes the config last (Options.Configure).
	Configure func(*agent.Config)
}

// config is the node's agent configuration: everything on loopback, every
// timer at its default unless Configure overrides some.
func (c nodeConfig) config() agent.Config {
	cfg := agent.DefaultConfig()
	cfg.NodeID, cfg.DataDir = c.ID, c.DataDir
	cfg.Bind, cfg.Advertise = "127.0.0.1", "127.0.0.1"
	cfg.Join = []string{c.Join}
	cfg.Server = !c.GossipOnly
	cfg.BootstrapExpect = c.BootstrapExpect
	cfg.LogLevel = "warn"
	cfg.Ports.Gossip, cfg.Ports.Raft = c.GossipPort, c.RaftPort
	cfg.HTTP.Addr = freeport.HostPort(c.HTTPPort)
	cfg.HTTP.EnableDebug = c.EnableDebug
	if c.LogStore != "" {
		cfg.Raft.LogStore = c.LogStore
	}
	if c.Configure != nil {
		c.Configure(&cfg)
	}
	return cfg
}

// render is the node's config file in the agent's HCL schema: the keys
// that differ from the agent's defaults, and the addresses always.
func (c nodeConfig) render() ([]byte, error) {
	return configfile.Render(c.config(), agent.DefaultConfig(), "bind", "ports.gossip", "ports.raft", "http.addr")
}
