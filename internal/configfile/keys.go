// Package configfile is the agent's HCL config file schema: the one table
// of keys and the Config field each sets, which the agent's parser reads
// and Render writes, so a key is spelled in one place. The tests, the
// benchmarks and the chaos runners write their agents' files with Render.
package configfile

import (
	"strings"

	"github.com/clusteragent/agent/agent"
)

// Key is one key of the HCL file and the Config field it sets.
type Key struct {
	// Name is "bind", or "ports.gossip" for a key inside a block.
	Name string
	// Field points at the field of c the key sets; the field's Go type
	// decides which HCL type the key takes.
	Field func(c *agent.Config) any
}

// Keys is the file's whole schema, in the order of config.hcl.example:
// top-level keys first, then each block's keys together.
var Keys = []Key{
	{"node_id", func(c *agent.Config) any { return &c.NodeID }},
	{"data_dir", func(c *agent.Config) any { return &c.DataDir }},
	{"bind", func(c *agent.Config) any { return &c.Bind }},
	{"advertise", func(c *agent.Config) any { return &c.Advertise }},
	{"join", func(c *agent.Config) any { return &c.Join }},
	{"bootstrap_expect", func(c *agent.Config) any { return &c.BootstrapExpect }},
	{"peers", func(c *agent.Config) any { return &c.Peers }},
	{"bootstrap_preferred", func(c *agent.Config) any { return &c.BootstrapPreferred }},
	{"no_bootstrap", func(c *agent.Config) any { return &c.NoBootstrap }},
	{"server", func(c *agent.Config) any { return &c.Server }},
	{"zone", func(c *agent.Config) any { return &c.Zone }},
	{"log_level", func(c *agent.Config) any { return &c.LogLevel }},
	{"log_json", func(c *agent.Config) any { return &c.LogJSON }},
	{"leave_on_terminate", func(c *agent.Config) any { return &c.LeaveOnTerminate }},
	{"ports.gossip", func(c *agent.Config) any { return &c.Ports.Gossip }},
	{"ports.raft", func(c *agent.Config) any { return &c.Ports.Raft }},
	{"http.addr", func(c *agent.Config) any { return &c.HTTP.Addr }},
	{"http.token", func(c *agent.Config) any { return &c.HTTP.Token }},
	{"http.open_reads", func(c *agent.Config) any { return &c.HTTP.OpenReads }},
	{"http.tls", func(c *agent.Config) any { return &c.HTTP.TLS }},
	{"http.verify_client", func(c *agent.Config) any { return &c.HTTP.VerifyClient }},
	{"http.leader_wait", func(c *agent.Config) any { return &c.HTTP.LeaderWait }},
	{"http.enable_debug", func(c *agent.Config) any { return &c.HTTP.EnableDebug }},
	{"gossip.encrypt", func(c *agent.Config) any { return &c.Gossip.Encrypt }},
	{"gossip.profile", func(c *agent.Config) any { return &c.Gossip.Profile }},
	{"gossip.allow_unencrypted", func(c *agent.Config) any { return &c.Gossip.AllowUnencrypted }},
	{"tls.enable", func(c *agent.Config) any { return &c.TLS.Enable }},
	{"tls.ca_file", func(c *agent.Config) any { return &c.TLS.CAFile }},
	{"tls.cert_file", func(c *agent.Config) any { return &c.TLS.CertFile }},
	{"tls.key_file", func(c *agent.Config) any { return &c.TLS.KeyFile }},
	{"tls.min_version", func(c *agent.Config) any { return &c.TLS.MinVersion }},
	{"tls.server_names", func(c *agent.Config) any { return &c.TLS.ServerNames }},
	{"raft.snapshot_threshold", func(c *agent.Config) any { return &c.Raft.SnapshotThreshold }},
	{"raft.snapshot_retain", func(c *agent.Config) any { return &c.Raft.SnapshotRetain }},
	{"raft.trailing_logs", func(c *agent.Config) any { return &c.Raft.TrailingLogs }},
	{"raft.multiplier", func(c *agent.Config) any { return &c.Raft.Multiplier }},
	{"raft.log_store", func(c *agent.Config) any { return &c.Raft.LogStore }},
	{"raft.wal_segment_size_mb", func(c *agent.Config) any { return &c.Raft.WALSegmentSizeMB }},
	{"autopilot.cleanup_dead_servers", func(c *agent.Config) any { return &c.Autopilot.CleanupDeadServers }},
	{"autopilot.dead_server_reap_after", func(c *agent.Config) any { return &c.Autopilot.DeadServerReapAfter }},
	{"autopilot.server_stabilization_time", func(c *agent.Config) any { return &c.Autopilot.ServerStabilizationTime }},
	{"autopilot.last_contact_threshold", func(c *agent.Config) any { return &c.Autopilot.LastContactThreshold }},
	{"autopilot.max_trailing_logs", func(c *agent.Config) any { return &c.Autopilot.MaxTrailingLogs }},
	{"autopilot.min_quorum", func(c *agent.Config) any { return &c.Autopilot.MinQuorum }},
	{"autopilot.max_voters", func(c *agent.Config) any { return &c.Autopilot.MaxVoters }},
	{"kv.max_value_bytes", func(c *agent.Config) any { return &c.KV.MaxValueBytes }},
	{"snapshot.interval", func(c *agent.Config) any { return &c.Snapshot.Interval }},
	{"snapshot.retain", func(c *agent.Config) any { return &c.Snapshot.Retain }},
	{"snapshot.path", func(c *agent.Config) any { return &c.Snapshot.Path }}}

// Lookup is the key named name ("ports.gossip"), or nil.
func Lookup(name string) *Key {
	for i := range Keys {
		if Keys[i].Name == name {
			return &Keys[i]
		}
	}
	return nil
}

// IsBlock reports whether name is a block of the file ("ports").
func IsBlock(name string) bool {
	for _, k := range Keys {
		if strings.HasPrefix(k.Name, name+".") {
			return true
		}
	}
	return false
}
