package dockerrun

import (
	"fmt"
	"time"
)

// Options configures Start. The zero value is a three-server cluster with
// the suite's short autopilot timers, built from the working directory's
// module.
type Options struct {
	// Servers is the number of servers started with bootstrap_expect =
	// Servers. Default 3.
	Servers int
	// Image is an image made by BuildImage to run; Close leaves it alone.
	// Empty: Start builds one with BuildTags and Close removes it.
	Image string
	// BuildTags is passed to go build -tags when Start builds the image.
	BuildTags string
	// ModuleRoot is the agent module's root for the build; see BuildOptions.
	ModuleRoot string
	// LogDir, when set, receives every node's log (CollectLogs) when the
	// cluster is closed, before its containers and their logs are removed.
	LogDir string
	// Logf reports progress; nil is silent.
	Logf func(format string, args ...any)
	// FormTimeout bounds the wait for every server to be a voter under one
	// leader, on top of Start's ctx. Default 90s.
	FormTimeout time.Duration

	// The agents' autopilot block. Defaults: MaxVoters and MinQuorum
	// Servers, DeadServerReapAfter 3s, ServerStabilizationTime 2s,
	// LastContactThreshold 1s.
	MaxVoters               int
	MinQuorum               int
	DeadServerReapAfter     time.Duration
	ServerStabilizationTime time.Duration
	LastContactThreshold    time.Duration

	// RaftMultiplier is raft.multiplier, 1 to 10. Default 1.
	RaftMultiplier int
	// GossipProfile is gossip.profile. Default "lan".
	GossipProfile string
	// LogLevel is the agents' log_level. Default "info".
	LogLevel string
	// SeedName, when set, is a network alias every container gets and the
	// one seed every agent joins (NAME:7946), through Docker's embedded
	// DNS, and each agent advertises its interface's address through a
	// template instead of a fixed one: the shape of a StatefulSet behind a
	// headless service, and what Move needs. Empty: fixed addresses.
	SeedName string
	// LogStore is raft.log_store ("wal" or "boltdb"); empty leaves the
	// agent's default.
	LogStore string
}

// withDefaults fills in the zero fields and checks the rest, before
// anything is created.
func (o Options) withDefaults() (Options, error) {
	if o.Servers == 0 {
		o.Servers = 3
	}
	if o.Servers < 1 {
		return o, fmt.Errorf("dockerrun: Servers must be at least 1, got %d", o.Servers)
	}
	if o.MaxVoters == 0 {
		o.MaxVoters = o.Servers
	}
	// Explicit on every node, the added ones (bootstrap_expect 0) included:
	// any of them may become the leader whose autopilot prunes.
	if o.MinQuorum == 0 {
		o.MinQuorum = o.Servers
	}
	if o.DeadServerReapAfter == 0 {
		o.DeadServerReapAfter = 3 * time.Second
	}
	if o.ServerStabilizationTime == 0 {
		o.ServerStabilizationTime = 2 * time.Second
	}
	if o.LastContactThreshold == 0 {
		o.LastContactThreshold = time.Second
	}
	if o.RaftMultiplier == 0 {
		o.RaftMultiplier = 1
	}
	if o.GossipProfile == "" {
		o.GossipProfile = "lan"
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	if o.FormTimeout == 0 {
		o.FormTimeout = 90 * time.Second
	}
	o.Logf = orNop(o.Logf)
	switch {
	case o.MaxVoters < 1:
		return o, fmt.Errorf("dockerrun: MaxVoters must be at least 1, got %d", o.MaxVoters)
	case o.MinQuorum < 1 || o.MinQuorum > o.MaxVoters:
		return o, fmt.Errorf("dockerrun: MinQuorum %d must be between 1 and MaxVoters %d", o.MinQuorum, o.MaxVoters)
	case o.Servers > o.MaxVoters:
		// The wait for formation wants every server a voter.
		return o, fmt.Errorf("dockerrun: Servers %d exceeds MaxVoters %d", o.Servers, o.MaxVoters)
	case o.DeadServerReapAfter < 0 || o.ServerStabilizationTime < 0 || o.LastContactThreshold < 0:
		return o, fmt.Errorf("dockerrun: autopilot durations must not be negative")
	case o.RaftMultiplier < 1 || o.RaftMultiplier > 10:
		return o, fmt.Errorf("dockerrun: RaftMultiplier must be between 1 and 10, got %d", o.RaftMultiplier)
	}
	return o, nil
}
