package agent

// expectConflict names what bootstrap_expect conflicts with in c, as the
// operator set it: -dev sets bootstrap_preferred itself, so naming that key
// would send them looking for a setting they never wrote.
func expectConflict(c *Config) string {
	switch {
	case c.Dev:
		return "-dev (one self-bootstrapping agent)"
	case len(c.Peers) > 0 && c.BootstrapPreferred:
		return "peers and bootstrap_preferred"
	case len(c.Peers) > 0:
		return "peers"
	default:
		return "bootstrap_preferred"
	}
}
