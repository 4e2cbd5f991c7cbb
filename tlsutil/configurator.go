package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// expiryWarning is how close to NotAfter a freshly loaded certificate must be
// for us to log a warning, so operators rotate before peers start refusing.
const expiryWarning = 30 * 24 * time.Hour

// Configurator hands out tls.Configs for mutual TLS whose certificate and
// trust pool are read at handshake time from an atomically swapped snapshot.
// A Reload therefore applies to every new handshake, including those made
// through configs handed out before the reload, while established
// connections keep the material they were set up with.
//
// All methods are safe for concurrent use.
type Configurator struct {
	logger  hclog.Logger
	mu      sync.Mutex // serialises Reload/Update; handshakes never take it
	cfg     Config
	current atomic.Pointer[material]
}

// NewConfigurator validates cfg, loads and cross-checks the files, and
// returns a Configurator, or an error naming the file at fault. A nil logger
// discards logs.
func NewConfigurator(cfg Config, logger hclog.Logger) (*Configurator, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	m, err := loadMaterial(cfg, time.Now())
	if err != nil {
		return nil, err
	}
	c := &Configurator{logger: logger.Named("tls"), cfg: cfg}
	c.current.Store(m)
	c.logLoaded(m)
	return c, nil
}

// Config returns the configuration currently in force.
func (c *Configurator) Config() Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg
}

// Certificate returns the parsed leaf certificate currently presented, for
// status pages and expiry monitoring. Callers must not modify it.
func (c *Configurator) Certificate() *x509.Certificate {
	return c.current.Load().leaf
}

// IncomingConfig returns a server-side config that requires a client
// certificate chaining to the CA and, when Config.ServerNames is set,
// carrying an allowed name. The certificate, trust pool, allow-list and
// minimum version are looked up per handshake, so Reload and Update affect
// it. Session tickets are off: a resumed session would skip
// client-certificate verification and let a peer whose CA was rotated out
// back in.
func (c *Configurator) IncomingConfig() *tls.Config {
	return c.incoming(tls.RequireAndVerifyClientCert, true)
}

// IncomingHTTPSConfig is IncomingConfig for the client-facing HTTP API:
// clients such as the CLI need not present a certificate, but one that is
// presented must chain to the CA. Config.ServerNames does not apply: it
// names servers, and API clients are operators.
func (c *Configurator) IncomingHTTPSConfig() *tls.Config {
	return c.incoming(tls.VerifyClientCertIfGiven, false)
}

// IncomingHTTPSConfigRequireClientCert is IncomingHTTPSConfig for an API
// that only certificate holders may use: a client certificate chaining to
// the CA is required. Config.ServerNames does not apply either.
func (c *Configurator) IncomingHTTPSConfigRequireClientCert() *tls.Config {
	return c.incoming(tls.RequireAndVerifyClientCert, false)
}

// incoming builds a server-side config whose real settings are chosen per
// handshake from the current material.
func (c *Configurator) incoming(auth tls.ClientAuthType, peerNames bool) *tls.Config {
	return &tls.Config{
		MinVersion:     c.current.Load().minVersion,
		GetCertificate: c.getCertificate,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return c.serverConfig(auth, peerNames), nil
		},
	}
}

// OutgoingConfig returns a client-side config that presents this node's
// certificate and verifies the server's chain against the CA.
//
// Hostname verification is replaced by chain verification on purpose: peers
// are dialed by the IP address they advertise, while node certificates name
// the node (its ID as a DNS SAN) and rarely list every address a node may
// get. Any certificate issued by our private CA is a cluster member, which is
// the property we need; Config.ServerName can add a name check on top. The
// standard way to express that in crypto/tls is InsecureSkipVerify plus our
// own VerifyPeerCertificate, which still rejects every chain not rooted in
// the CA.
func (c *Configurator) OutgoingConfig() *tls.Config {
	m := c.current.Load()
	serverName := c.Config().ServerName
	return &tls.Config{
		MinVersion:         m.minVersion,
		CipherSuites:       cipherSuites,
		ServerName:         serverName,
		InsecureSkipVerify: true, // the chain is verified in VerifyPeerCertificate; see above
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return c.current.Load().cert, nil
		},
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			m := c.current.Load() // one snapshot: pool and allow-list from the same load
			leaf, err := verifyChain(rawCerts, m.pool, x509.ExtKeyUsageServerAuth, serverName)
			if err != nil {
				return err
			}
			return m.allow.check(leaf)
		},
	}
}

// getCertificate serves the current certificate to clients.
func (c *Configurator) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.current.Load().cert, nil
}

// serverConfig builds the per-handshake server config from the current
// material. With peerNames, a client certificate must also pass the
// allow-list; crypto/tls has verified its chain by the time VerifyConnection
// runs.
func (c *Configurator) serverConfig(auth tls.ClientAuthType, peerNames bool) *tls.Config {
	m := c.current.Load()
	cfg := &tls.Config{
		MinVersion:             m.minVersion,
		CipherSuites:           cipherSuites,
		Certificates:           []tls.Certificate{*m.cert},
		ClientAuth:             auth,
		ClientCAs:              m.pool,
		SessionTicketsDisabled: true,
	}
	if peerNames && m.allow != nil {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrNoPeerCertificate
			}
			return m.allow.check(cs.PeerCertificates[0])
		}
	}
	return cfg
}

// logLoaded reports what was loaded and warns about imminent expiry.
func (c *Configurator) logLoaded(m *material) {
	c.logger.Info("loaded certificate", "subject", m.leaf.Subject.CommonName,
		"not_after", m.leaf.NotAfter.UTC().Format(time.RFC3339))
	if left := time.Until(m.leaf.NotAfter); left < expiryWarning {
		c.logger.Warn("certificate expires soon", "subject", m.leaf.Subject.CommonName,
			"expires_in", left.Round(time.Minute).String())
	}
	if !m.allow.permits(m.leaf) {
		// Not fatal: the list is about peers. But peers with the same list
		// will refuse this node, so say so before they do.
		c.logger.Warn("this node's certificate carries none of the allowed server names; peers with the same list will refuse it",
			"subject", m.leaf.Subject.CommonName, "dns_names", m.leaf.DNSNames, "server_names", m.allow.entries)
	}
}

// String describes the Configurator for logs.
func (c *Configurator) String() string {
	m := c.current.Load()
	return fmt.Sprintf("tlsutil.Configurator{subject=%q not_after=%s}", m.leaf.Subject.CommonName, m.leaf.NotAfter.UTC().Format(time.RFC3339))
}
