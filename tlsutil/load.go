package tlsutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// material is one consistent, fully verified set of TLS inputs. It is
// immutable once built so handshakes can read it without locks.
type material struct {
	cert       *tls.Certificate
	leaf       *x509.Certificate
	pool       *x509.CertPool
	minVersion uint16
	allow      *allowList // nil: any certificate from the CA
}

// loadMaterial reads and cross-checks the three files. It returns either a
// complete material or an error naming the offending file: never a partial
// result, which is what makes Reload all-or-nothing.
func loadMaterial(cfg Config, now time.Time) (*material, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	minVersion, _ := parseMinVersion(cfg.MinVersion)
	allow, _ := parseAllowList(cfg.ServerNames) // validated above
	pool, err := loadCAFile(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	certPEM, err := readPEMFile("cert_file", cfg.CertFile)
	if err != nil {
		return nil, err
	}
	if _, err := parseCertificates(certPEM); err != nil {
		return nil, fmt.Errorf("cert_file %s: %w", cfg.CertFile, err)
	}
	keyPEM, err := readPEMFile("key_file", cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	if err := checkKeyPEM(keyPEM); err != nil {
		return nil, fmt.Errorf("key_file %s: %w", cfg.KeyFile, err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("key_file %s with cert_file %s: %w: %v", cfg.KeyFile, cfg.CertFile, ErrKeyMismatch, err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("cert_file %s: %w", cfg.CertFile, err)
		}
		pair.Leaf = leaf
	}
	if err := checkLeaf(leaf, pair.Certificate[1:], pool, now); err != nil {
		return nil, fmt.Errorf("cert_file %s (ca_file %s): %w", cfg.CertFile, cfg.CAFile, err)
	}
	return &material{cert: &pair, leaf: leaf, pool: pool, minVersion: minVersion, allow: allow}, nil
}

// readPEMFile reads a file, naming the config key and path on failure.
func readPEMFile(key, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %v", key, path, ErrUnreadable, err)
	}
	return b, nil
}

// loadCAFile builds the trust pool. It parses every block itself, rather than
// using AppendCertsFromPEM, because that silently skips bad blocks and we
// would rather refuse a corrupt bundle than trust half of it.
func loadCAFile(path string) (*x509.CertPool, error) {
	b, err := readPEMFile("ca_file", path)
	if err != nil {
		return nil, err
	}
	certs, err := parseCertificates(b)
	if err != nil {
		return nil, fmt.Errorf("ca_file %s: %w", path, err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		if !c.IsCA {
			return nil, fmt.Errorf("ca_file %s: certificate %q is not a CA (basic constraints)", path, c.Subject.CommonName)
		}
		pool.AddCert(c)
	}
	return pool, nil
}

// parseCertificates returns every CERTIFICATE block in b, failing if there is
// none or if one does not parse.
func parseCertificates(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d does not parse: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: expected a PEM \"CERTIFICATE\" block", ErrNotPEM)
	}
	return certs, nil
}

// checkKeyPEM finds the first private key block and makes sure it parses,
// so a bad key is reported as such and not as a mismatch.
func checkKeyPEM(b []byte) error {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return fmt.Errorf("%w: expected a PEM private key block", ErrNotPEM)
		}
		if block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] != "" {
			return errors.New("encrypted private keys are not supported")
		}
		if !strings.HasSuffix(block.Type, "PRIVATE KEY") {
			continue
		}
		_, err := parsePrivateKey(block.Bytes)
		return err
	}
}

// parsePrivateKey accepts the three encodings Go and OpenSSL commonly emit.
func parsePrivateKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		switch k := k.(type) {
		case *ecdsa.PrivateKey:
			return k, nil
		case *rsa.PrivateKey:
			return k, nil
		case ed25519.PrivateKey:
			return k, nil
		default:
			return nil, fmt.Errorf("unsupported private key type %T", k)
		}
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("private key does not parse as PKCS#8, SEC 1 or PKCS#1")
}

// checkLeaf verifies validity dates and that the certificate chains to the
// pool for both usages: the same certificate is presented when accepting
// (server auth) and when dialing (client auth).
func checkLeaf(leaf *x509.Certificate, rest [][]byte, pool *x509.CertPool, now time.Time) error {
	if now.After(leaf.NotAfter) {
		return fmt.Errorf("%w: expired at %s", ErrExpired, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return fmt.Errorf("%w: not valid before %s", ErrExpired, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	inter := x509.NewCertPool()
	for _, der := range rest {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("intermediate certificate does not parse: %w", err)
		}
		inter.AddCert(c)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots: pool, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{usage},
		})
		if err != nil {
			return classifyVerifyError(err)
		}
	}
	return nil
}

// classifyVerifyError wraps an x509 verification error in the sentinel that
// best describes it, keeping the original text for the operator.
func classifyVerifyError(err error) error {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) {
		switch inv.Reason {
		case x509.Expired:
			return fmt.Errorf("%w: %v", ErrExpired, err)
		case x509.IncompatibleUsage:
			return fmt.Errorf("%w: need both server and client auth: %v", ErrBadUsage, err)
		}
	}
	return fmt.Errorf("%w: %v", ErrNotSignedByCA, err)
}

// verifyChain checks a peer's raw certificate chain against the pool for one
// usage and returns the parsed leaf; it is the handshake-time twin of
// checkLeaf.
func verifyChain(rawCerts [][]byte, pool *x509.CertPool, usage x509.ExtKeyUsage, dnsName string) (*x509.Certificate, error) {
	if len(rawCerts) == 0 {
		return nil, ErrNoPeerCertificate
	}
	certs := make([]*x509.Certificate, 0, len(rawCerts))
	for _, der := range rawCerts {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("peer certificate does not parse: %w", err)
		}
		certs = append(certs, c)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage},
	})
	if err != nil {
		return nil, fmt.Errorf("peer %q: %w", certs[0].Subject.CommonName, classifyVerifyError(err))
	}
	if dnsName != "" {
		if err := certs[0].VerifyHostname(dnsName); err != nil {
			return nil, fmt.Errorf("peer %q: %w", certs[0].Subject.CommonName, err)
		}
	}
	return certs[0], nil
}
