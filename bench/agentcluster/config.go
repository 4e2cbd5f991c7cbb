package agentcluster

import (
	"fmt"
	"strconv"
	"strings"
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
	Autopilot       string // body of the autopilot block, "" for none
	GossipOnly      bool   // server = false
	LogStore        string // raft.log_store; "" for the agent's default
	EnableDebug     bool   // http.enable_debug: /debug/pprof for profiles
}

// render is the node's config file in the agent's HCL schema (see
// config.hcl.example): everything on loopback, every timer at its default
// unless Autopilot overrides some.
func (c nodeConfig) render() string {
	var b strings.Builder
	kv := func(indent, key, value string) {
		fmt.Fprintf(&b, "%s%-16s = %s\n", indent, key, value)
	}
	kv("", "node_id", strconv.Quote(c.ID))
	kv("", "data_dir", strconv.Quote(c.DataDir))
	kv("", "bind", `"127.0.0.1"`)
	kv("", "advertise", `"127.0.0.1"`)
	kv("", "join", "["+strconv.Quote(c.Join)+"]")
	if c.GossipOnly {
		kv("", "server", "false")
	}
	if c.BootstrapExpect > 0 {
		kv("", "bootstrap_expect", strconv.Itoa(c.BootstrapExpect))
	}
	kv("", "log_level", `"warn"`)
	b.WriteString("\nports {\n")
	kv("  ", "gossip", strconv.Itoa(c.GossipPort))
	kv("  ", "raft", strconv.Itoa(c.RaftPort))
	b.WriteString("}\n\nhttp {\n")
	kv("  ", "addr", strconv.Quote("127.0.0.1:"+strconv.Itoa(c.HTTPPort)))
	if c.EnableDebug {
		kv("  ", "enable_debug", "true")
	}
	b.WriteString("}\n")
	if c.LogStore != "" {
		b.WriteString("\nraft {\n")
		kv("  ", "log_store", strconv.Quote(c.LogStore))
		b.WriteString("}\n")
	}
	if c.Autopilot != "" {
		b.WriteString("\nautopilot {\n" + c.Autopilot + "\n}\n")
	}
	return b.String()
}
