package agent

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/clusteragent/agent/agent/autopilot"
	"github.com/clusteragent/agent/discovery"
	"github.com/clusteragent/agent/raftnode"
)

// The pure translations of a Config into each component's own
// configuration. Start adds only what exists at run time (listeners,
// dialers, the state machine, TLS, the logger, the metrics registry), so
// every key's effect is tested here without starting anything.

// raftOptions is cfg's part of raftnode.Options for this node, advertised
// at advertise (an IP; the port is ports.raft).
func raftOptions(cfg Config, nodeID, advertise string) raftnode.Options {
	return raftnode.Options{
		NodeID: nodeID,
		// Port 0 in the advertised address means "the port the listener got".
		AdvertiseAddr: net.JoinHostPort(advertise, strconv.Itoa(cfg.Ports.Raft)),
		DataDir:       cfg.DataDir,
		// The agent decides about bootstrapping itself (runBootstrap), after
		// asking its peers; raftnode never bootstraps on its own here.
		JoinOnly:           true,
		Multiplier:         cfg.Raft.Multiplier,
		SnapshotThreshold:  cfg.Raft.SnapshotThreshold,
		SnapshotRetain:     cfg.Raft.SnapshotRetain,
		TrailingLogs:       cfg.Raft.TrailingLogs,
		LogStore:           cfg.Raft.LogStore,
		WALSegmentSize:     cfg.Raft.WALSegmentSizeMB << 20,
		HeartbeatTimeout:   cfg.Tuning.RaftHeartbeatTimeout,
		ElectionTimeout:    cfg.Tuning.RaftElectionTimeout,
		LeaderLeaseTimeout: cfg.Tuning.RaftLeaderLeaseTimeout,
		DisablePipeline:    cfg.Tuning.RaftDisablePipeline,
	}
}

// lanTCPTimeout replaces memberlist's LAN wait of 10s on a TCP dial or
// push/pull: on a LAN a live peer answers in milliseconds, and the long
// wait only delays joins and shutdowns stuck on peers that are gone.
const lanTCPTimeout = 3 * time.Second

// gossipConfig is cfg's part of discovery.Config for this node, advertised
// at advertise. It fails only on a gossip key that does not decode.
func gossipConfig(cfg Config, nodeID, advertise string) (discovery.Config, error) {
	g := discovery.DefaultConfig()
	g.NodeID = nodeID
	g.BindAddr = cfg.Bind
	g.BindPort = cfg.Ports.Gossip
	g.AdvertiseAddr = advertise
	g.Profile = cfg.Gossip.Profile
	g.Seeds = cfg.Join
	g.DataDir = cfg.DataDir
	if cfg.Gossip.Encrypt != "" {
		key, err := DecodeGossipKey(cfg.Gossip.Encrypt)
		if err != nil {
			return discovery.Config{}, fmt.Errorf("gossip.encrypt: %w", err)
		}
		g.SecretKey = key
	}
	g.AllowUnencrypted = cfg.Gossip.AllowUnencrypted
	if g.Profile == "lan" {
		g.TCPTimeout = lanTCPTimeout
	}
	t := cfg.Tuning
	g.ProbeInterval, g.ProbeTimeout, g.GossipInterval = t.GossipProbeInterval, t.GossipProbeTimeout, t.GossipInterval
	g.PushPullInterval, g.SuspicionMult = t.GossipPushPullInterval, t.GossipSuspicionMult
	if t.JoinBackoffMax > 0 {
		g.JoinBackoffMax = t.JoinBackoffMax
	}
	if t.RejoinInterval > 0 {
		g.RejoinInterval = t.RejoinInterval
	}
	return g, nil
}

// autopilotConfig is cfg's autopilot block, with min_quorum resolved.
func autopilotConfig(cfg Config) autopilot.Config {
	ac := cfg.Autopilot
	return autopilot.Config{
		Settings: autopilot.Settings{
			MaxVoters:               ac.MaxVoters,
			MinQuorum:               cfg.EffectiveMinQuorum(),
			DeadServerReapAfter:     ac.DeadServerReapAfter,
			ServerStabilizationTime: ac.ServerStabilizationTime,
		},
		CleanupDeadServers:   ac.CleanupDeadServers,
		LastContactThreshold: ac.LastContactThreshold,
		MaxTrailingLogs:      ac.MaxTrailingLogs,
		ReconcileInterval:    cfg.Tuning.ReconcileInterval,
		UpdateInterval:       cfg.Tuning.AutopilotUpdateInterval,
	}
}
