package tlsutil

import (
	"crypto/tls"
	"fmt"
)

// Accepted values of Config.MinVersion.
const (
	VersionTLS12 = "tls12"
	VersionTLS13 = "tls13"
)

// Config names the PEM files for mutual TLS between agents. All three files
// are required: a node that speaks TLS must both prove its identity and check
// its peers', so half a configuration is refused rather than silently
// weakened.
type Config struct {
	// CAFile is the PEM bundle of CA certificates that peers must chain to.
	CAFile string
	// CertFile is this node's PEM certificate, optionally followed by
	// intermediates. It must carry both server and client auth usages,
	// because the same certificate is used to accept and to dial.
	CertFile string
	// KeyFile is the PEM private key of CertFile (PKCS#8, SEC 1 or PKCS#1).
	KeyFile string
	// MinVersion is "tls12" or "tls13". Default "tls12". TLS 1.3 is always
	// preferred when both sides support it.
	MinVersion string
	// ServerName, when set, is an extra requirement on outgoing connections:
	// the server's certificate must be valid for this DNS name (on top of
	// chaining to the CA). Empty means "any certificate from our CA", which
	// is the right default because peers are dialed by IP address.
	ServerName string
	// ServerNames, when not empty, is an allow-list for mutual TLS between
	// agents (IncomingConfig and OutgoingConfig, in both directions): a
	// peer's certificate must chain to the CA and carry one of these names
	// as a DNS SAN or as its subject common name. An entry "*.suffix"
	// matches exactly one leftmost label. Matching ignores case. Empty (the
	// default) accepts any certificate from the CA. It is swapped together
	// with the rest of the material by Update. The client-facing HTTPS
	// configs ignore it: CLI certificates need not name a server.
	ServerNames []string
}

// DefaultConfig returns a Config with the default minimum version and no
// files; the caller fills in the paths.
func DefaultConfig() Config {
	return Config{MinVersion: VersionTLS12}
}

// Validate checks the fields without touching the files; NewConfigurator
// reads and verifies the files themselves. Errors name the field.
func (c *Config) Validate() error {
	if c.CAFile == "" {
		return fmt.Errorf("%w: CAFile is required", ErrInvalidConfig)
	}
	if c.CertFile == "" {
		return fmt.Errorf("%w: CertFile is required", ErrInvalidConfig)
	}
	if c.KeyFile == "" {
		return fmt.Errorf("%w: KeyFile is required", ErrInvalidConfig)
	}
	if _, err := parseMinVersion(c.MinVersion); err != nil {
		return err
	}
	return ValidateServerNames(c.ServerNames)
}

// parseMinVersion maps the MinVersion string to a crypto/tls constant.
func parseMinVersion(s string) (uint16, error) {
	switch s {
	case "", VersionTLS12:
		return tls.VersionTLS12, nil
	case VersionTLS13:
		return tls.VersionTLS13, nil
	default:
		return 0, fmt.Errorf("%w: MinVersion %q must be %q or %q", ErrInvalidConfig, s, VersionTLS12, VersionTLS13)
	}
}

// cipherSuites are the TLS 1.2 suites we accept: forward-secret ECDHE with
// AEAD ciphers only. TLS 1.3 suites are not configurable in crypto/tls and
// are all AEAD already.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}
