package procrun

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/clusteragent/agent/internal/chaos"
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

// render returns the node's config file in the agent's HCL schema (see
// config.hcl.example). Everything on loopback; JSON logs so the suite can
// read them; the "local" gossip profile and Raft multiplier 1 so failures
// are detected as fast as the agent allows.
func (c nodeConfig) render(s chaos.AutopilotSettings) string {
	var b strings.Builder
	kv := func(indent, key, value string) {
		fmt.Fprintf(&b, "%s%-25s = %s\n", indent, key, value)
	}
	seeds := make([]string, len(c.Join))
	for i, j := range c.Join {
		seeds[i] = hclString(j)
	}
	kv("", "node_id", hclString(c.ID))
	kv("", "data_dir", hclString(c.DataDir))
	kv("", "bind", hclString(loopback))
	kv("", "advertise", hclString(loopback))
	kv("", "join", "["+strings.Join(seeds, ", ")+"]")
	kv("", "bootstrap_expect", strconv.Itoa(c.BootstrapExpect))
	kv("", "log_level", hclString("info"))
	kv("", "log_json", "true")
	b.WriteString("\nports {\n")
	kv("  ", "gossip", strconv.Itoa(c.GossipPort))
	kv("  ", "raft", strconv.Itoa(c.RaftPort))
	b.WriteString("}\n\nhttp {\n")
	kv("  ", "addr", hclString(hostPort(c.HTTPPort)))
	b.WriteString("}\n\ngossip {\n")
	kv("  ", "profile", hclString("local"))
	b.WriteString("}\n\nraft {\n")
	kv("  ", "multiplier", "1")
	if c.LogStore != "" {
		kv("  ", "log_store", hclString(c.LogStore))
	}
	b.WriteString("}\n\nautopilot {\n")
	kv("  ", "dead_server_reap_after", hclString(s.DeadServerReapAfter.String()))
	kv("  ", "server_stabilization_time", hclString(serverStabilizationTime.String()))
	kv("  ", "last_contact_threshold", hclString(lastContactThreshold.String()))
	kv("  ", "max_voters", strconv.Itoa(s.MaxVoters))
	kv("  ", "min_quorum", strconv.Itoa(s.MinQuorum))
	b.WriteString("}\n")
	return b.String()
}

// hclString quotes s as an HCL string literal. Besides quotes and
// backslashes, "${" and "%{" must be escaped: HCL reads them as template
// sequences.
func hclString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "${", "$${", "%{", "%%{")
	return `"` + r.Replace(s) + `"`
}

// loopback is the address every node binds and advertises.
const loopback = "127.0.0.1"

func hostPort(port int) string { return loopback + ":" + strconv.Itoa(port) }
