package agent

// The checks Config.Validate runs, one per concern. The blocks with their
// own type (gossip, tls, raft, autopilot) validate themselves in config.go.

func (c *Config) validateIdentity() error {
	if c.NodeID != "" && !ValidNodeID(c.NodeID) {
		return fieldErr("node_id", "%q is not a valid node ID (1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit)", c.NodeID)
	}
	if c.DataDir == "" {
		return fieldErr("data_dir", "must not be empty")
	}
	return nil
}

func (c *Config) validatePorts() error {
	if err := checkPort("ports.gossip", c.Ports.Gossip); err != nil {
		return err
	}
	if err := checkPort("ports.raft", c.Ports.Raft); err != nil {
		return err
	}
	if c.Ports.Gossip != 0 && c.Ports.Gossip == c.Ports.Raft {
		return fieldErr("ports.raft", "must differ from ports.gossip (%d)", c.Ports.Gossip)
	}
	return nil
}

// validateHTTP checks the http block and the limits the API enforces.
func (c *Config) validateHTTP() error {
	if err := checkHostPort("http.addr", c.HTTP.Addr); err != nil {
		return err
	}
	if c.HTTP.LeaderWait <= 0 {
		return fieldErr("http.leader_wait", "must be positive")
	}
	if c.KV.MaxValueBytes < 1 || c.KV.MaxValueBytes > MaxValueLimit {
		return fieldErr("kv.max_value_bytes", "must be between 1 and %d, got %d", MaxValueLimit, c.KV.MaxValueBytes)
	}
	if c.HTTP.TLS && !c.TLS.Enable {
		return fieldErr("http.tls", "needs tls.enable = true and its certificate files")
	}
	if c.HTTP.VerifyClient && !c.HTTP.TLS {
		return fieldErr("http.verify_client", "needs http.tls = true: client certificates exist only over HTTPS")
	}
	return nil
}

// validateBootstrap checks bootstrap_expect, the static peers and that at
// most one way of bootstrapping is chosen.
func (c *Config) validateBootstrap() error {
	if c.BootstrapExpect < 0 {
		return fieldErr("bootstrap_expect", "must be 0 or more, got %d", c.BootstrapExpect)
	}
	if err := c.validatePeers(); err != nil {
		return err
	}
	return c.validateBootstrapModes()
}

func (c *Config) validateLogging() error {
	switch c.LogLevel {
	case "trace", "debug", "info", "warn", "error":
		return nil
	default:
		return fieldErr("log_level", "%q is not one of trace, debug, info, warn, error", c.LogLevel)
	}
}
