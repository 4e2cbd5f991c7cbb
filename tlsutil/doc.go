// Package tlsutil builds the mutual-TLS configuration shared by the agent's
// Raft transport and agent-to-agent calls, and generates a private CA and
// node certificates for the CLI.
//
// A Configurator loads a CA bundle, a node certificate and its key, and
// verifies them together (key matches certificate, certificate chains to the
// CA for both server and client auth, certificate currently valid) before
// anything is used. Handshakes read the current material through callbacks
// backed by an atomic pointer, so Reload can swap it without locks and
// without restarting listeners; a Reload that fails leaves the old material
// in force.
//
// Peers are authenticated by their chain to the private CA, not by host
// name: nodes are dialed by IP address and certificates name node IDs. See
// Configurator.OutgoingConfig. Config.ServerNames narrows that to
// certificates carrying an allowed name (exact or "*.suffix"), checked on
// both sides of every agent-to-agent handshake against the allow-list in
// force at that moment.
//
// The package depends on the standard library and hclog only.
package tlsutil
