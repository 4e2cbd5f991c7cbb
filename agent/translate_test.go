package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/discovery"
)

func TestRaftOptions(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		cfg       func() Config
		advertise string
		check     func(t *testing.T, got raftOptionsView)
	}{
		"defaults": {
			cfg: DefaultConfig, advertise: "10.0.0.1",
			check: func(t *testing.T, got raftOptionsView) {
				want := raftOptionsView{advertise: "10.0.0.1:7000", dataDir: "./data", joinOnly: true, multiplier: 1,
					threshold: 8192, retain: 2, trailing: 10240}
				if got.advertise != want.advertise || got.dataDir != want.dataDir || !got.joinOnly ||
					got.multiplier != want.multiplier || got.threshold != want.threshold || got.retain != want.retain || got.trailing != want.trailing {
					t.Errorf("got %+v, want %+v", got, want)
				}
			},
		},
		"ipv6 advertise, port 0": {
			cfg:       func() Config { c := DefaultConfig(); c.Ports.Raft = 0; return c },
			advertise: "fd00::1",
			check: func(t *testing.T, got raftOptionsView) {
				if got.advertise != "[fd00::1]:0" {
					t.Errorf("advertise = %q, want [fd00::1]:0", got.advertise)
				}
			},
		},
		"raft block and tuning": {
			cfg: func() Config {
				c := LoopbackConfig("n1", "/d")
				c.Raft.LogStore, c.Raft.Multiplier, c.Raft.SnapshotThreshold = "boltdb", 3, 16
				c.Tuning.RaftDisablePipeline = true
				return c
			},
			advertise: "127.0.0.1",
			check: func(t *testing.T, got raftOptionsView) {
				if got.logStore != "boltdb" || got.multiplier != 3 || got.threshold != 16 || got.walSegment != 1<<20 ||
					got.heartbeat != 500*time.Millisecond || got.leaderLease != 250*time.Millisecond || !got.disablePipeline {
					t.Errorf("got %+v", got)
				}
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			o := raftOptions(tc.cfg(), "n1", tc.advertise)
			if o.NodeID != "n1" {
				t.Errorf("NodeID = %q", o.NodeID)
			}
			tc.check(t, raftOptionsView{advertise: o.AdvertiseAddr, dataDir: o.DataDir, joinOnly: o.JoinOnly, multiplier: o.Multiplier,
				threshold: o.SnapshotThreshold, retain: o.SnapshotRetain, trailing: o.TrailingLogs, logStore: o.LogStore,
				walSegment: o.WALSegmentSize, heartbeat: o.HeartbeatTimeout, leaderLease: o.LeaderLeaseTimeout, disablePipeline: o.DisablePipeline})
		})
	}
}

// raftOptionsView is the comparable part of raftnode.Options (which holds
// functions and interfaces).
type raftOptionsView struct {
	advertise, dataDir, logStore string
	joinOnly, disablePipeline    bool
	multiplier                   int
	threshold, trailing          uint64
	retain                       int
	walSegment                   int
	heartbeat, leaderLease       time.Duration
}

func TestGossipConfig(t *testing.T) {
	t.Parallel()
	key := strings.Repeat("A", 43) + "="
	cases := map[string]struct {
		mutate  func(*Config)
		wantErr string
		check   func(t *testing.T, g discovery.Config)
	}{
		"lan profile shortens the TCP timeout": {
			mutate: func(*Config) {},
			check: func(t *testing.T, g discovery.Config) {
				if g.Profile != "lan" || g.TCPTimeout != lanTCPTimeout || g.BindAddr != "0.0.0.0" || g.BindPort != 7946 || g.AdvertiseAddr != "10.0.0.1" {
					t.Errorf("got profile %q timeout %v bind %s:%d advertise %s", g.Profile, g.TCPTimeout, g.BindAddr, g.BindPort, g.AdvertiseAddr)
				}
			},
		},
		"wan profile keeps the library's timeout": {
			mutate: func(c *Config) { c.Gossip.Profile = "wan" },
			check: func(t *testing.T, g discovery.Config) {
				if g.TCPTimeout == lanTCPTimeout {
					t.Errorf("wan TCPTimeout = %v, the lan override", g.TCPTimeout)
				}
			},
		},
		"seeds, key and tuning": {
			mutate: func(c *Config) {
				c.Join = []string{"10.0.0.2:7946", "seeds.example"}
				c.Gossip.Encrypt = key
				c.Tuning.JoinBackoffMax, c.Tuning.GossipSuspicionMult = 7*time.Second, 5
			},
			check: func(t *testing.T, g discovery.Config) {
				if len(g.Seeds) != 2 || len(g.SecretKey) != 32 || g.JoinBackoffMax != 7*time.Second || g.SuspicionMult != 5 {
					t.Errorf("seeds %v key %d bytes backoff %v suspicion %d", g.Seeds, len(g.SecretKey), g.JoinBackoffMax, g.SuspicionMult)
				}
			},
		},
		"zero tuning keeps the library's backoff": {
			mutate: func(c *Config) { c.Tuning.JoinBackoffMax, c.Tuning.RejoinInterval = 0, 0 },
			check: func(t *testing.T, g discovery.Config) {
				d := discovery.DefaultConfig()
				if g.JoinBackoffMax != d.JoinBackoffMax || g.RejoinInterval != d.RejoinInterval {
					t.Errorf("backoff %v rejoin %v, want the defaults %v %v", g.JoinBackoffMax, g.RejoinInterval, d.JoinBackoffMax, d.RejoinInterval)
				}
			},
		},
		"bad key names gossip.encrypt": {
			mutate:  func(c *Config) { c.Gossip.Encrypt = "not base64!" },
			wantErr: "gossip.encrypt",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.mutate(&cfg)
			g, err := gossipConfig(cfg, "n1", "10.0.0.1")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.NodeID != "n1" {
				t.Errorf("NodeID = %q", g.NodeID)
			}
			tc.check(t, g)
		})
	}
}

func TestAutopilotConfig(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		mutate        func(*Config)
		wantMinQuorum int
		wantMaxVoters int
	}{
		"defaults":                     {mutate: func(*Config) {}, wantMinQuorum: 0, wantMaxVoters: 5},
		"min_quorum from expect":       {mutate: func(c *Config) { c.BootstrapExpect = 3 }, wantMinQuorum: 3, wantMaxVoters: 5},
		"min_quorum from static peers": {mutate: func(c *Config) { c.Peers = map[string]string{"a": "h:1", "b": "h:2"} }, wantMinQuorum: 2, wantMaxVoters: 5},
		"explicit min_quorum wins":     {mutate: func(c *Config) { c.BootstrapExpect = 3; c.Autopilot.MinQuorum = 2 }, wantMinQuorum: 2, wantMaxVoters: 5},
		"max_voters":                   {mutate: func(c *Config) { c.Autopilot.MaxVoters = 3 }, wantMinQuorum: 0, wantMaxVoters: 3},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.mutate(&cfg)
			got := autopilotConfig(cfg)
			if got.MinQuorum != tc.wantMinQuorum || got.MaxVoters != tc.wantMaxVoters {
				t.Errorf("min_quorum %d max_voters %d, want %d %d", got.MinQuorum, got.MaxVoters, tc.wantMinQuorum, tc.wantMaxVoters)
			}
			ac := cfg.Autopilot
			if got.CleanupDeadServers != ac.CleanupDeadServers || got.DeadServerReapAfter != ac.DeadServerReapAfter ||
				got.ServerStabilizationTime != ac.ServerStabilizationTime || got.LastContactThreshold != ac.LastContactThreshold ||
				got.MaxTrailingLogs != ac.MaxTrailingLogs {
				t.Errorf("autopilot block not carried over: %+v from %+v", got, ac)
			}
		})
	}
}
