package tlsutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Defaults for generated certificates.
const (
	// DefaultCAValidity is how long a generated CA is valid: long, because
	// rotating a CA means re-issuing every node certificate.
	DefaultCAValidity = 5 * 365 * 24 * time.Hour
	// DefaultCertValidity is how long a generated node certificate is valid.
	DefaultCertValidity = 365 * 24 * time.Hour
	// DefaultCACommonName is the subject of a generated CA.
	DefaultCACommonName = "Cluster Agent CA"
	// clockSkew backdates NotBefore so a peer whose clock is slightly behind
	// does not reject a certificate created a moment ago.
	clockSkew = time.Minute
)

// CAOptions tunes GenerateCA. The zero value is usable.
type CAOptions struct {
	// CommonName of the CA subject. Default DefaultCACommonName.
	CommonName string
	// Validity of the CA. Default DefaultCAValidity.
	Validity time.Duration
}

// CertOptions describes a node certificate for GenerateCert.
type CertOptions struct {
	// NodeID is the node's ID: the subject common name and the first DNS SAN.
	// Required.
	NodeID string
	// DNSNames are extra DNS SANs (for example "localhost").
	DNSNames []string
	// IPAddresses are IP SANs; none by default because peers verify the
	// chain, not the address (see Configurator.OutgoingConfig).
	IPAddresses []net.IP
	// Validity of the certificate. Default DefaultCertValidity; never beyond
	// the CA's own expiry.
	Validity time.Duration
}

// GenerateCA creates a self-signed ECDSA P-256 CA and returns its
// certificate and PKCS#8 private key, both PEM encoded.
func GenerateCA(opts CAOptions) (certPEM, keyPEM []byte, err error) {
	if opts.CommonName == "" {
		opts.CommonName = DefaultCACommonName
	}
	if opts.Validity < 0 {
		return nil, nil, errors.New("CAOptions.Validity must not be negative")
	}
	if opts.Validity == 0 {
		opts.Validity = DefaultCAValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.CommonName},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(opts.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // the CA signs node certificates only, never sub-CAs
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	return encodePair(der, key)
}

// GenerateCert issues a node certificate signed by the given CA (PEM
// certificate and key, as written by GenerateCA) and returns the node's
// certificate and PKCS#8 key, PEM encoded. The certificate is valid for both
// server and client auth, since a node both accepts and dials.
func GenerateCert(caCertPEM, caKeyPEM []byte, opts CertOptions) (certPEM, keyPEM []byte, err error) {
	if opts.NodeID == "" {
		return nil, nil, errors.New("CertOptions.NodeID is required")
	}
	if opts.Validity < 0 {
		return nil, nil, errors.New("CertOptions.Validity must not be negative")
	}
	if opts.Validity == 0 {
		opts.Validity = DefaultCertValidity
	}
	caCert, caKey, err := parseCA(caCertPEM, caKeyPEM)
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	notAfter := now.Add(opts.Validity)
	if notAfter.After(caCert.NotAfter) {
		notAfter = caCert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: opts.NodeID},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     append([]string{opts.NodeID}, opts.DNSNames...),
		IPAddresses:  opts.IPAddresses,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate for %q: %w", opts.NodeID, err)
	}
	return encodePair(der, key)
}

// parseCA decodes a CA pair and checks that it can sign: a CA certificate,
// currently valid, whose key matches.
func parseCA(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	certs, err := parseCertificates(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("CA certificate: %w", err)
	}
	caCert := certs[0]
	if !caCert.IsCA {
		return nil, nil, errors.New("CA certificate: not a CA (basic constraints)")
	}
	if time.Now().After(caCert.NotAfter) {
		return nil, nil, fmt.Errorf("CA certificate: %w: expired at %s", ErrExpired, caCert.NotAfter.UTC().Format(time.RFC3339))
	}
	block, rest := pem.Decode(keyPEM)
	for block != nil && !isKeyBlock(block.Type) {
		block, rest = pem.Decode(rest)
	}
	if block == nil {
		return nil, nil, fmt.Errorf("CA key: %w: expected a PEM private key block", ErrNotPEM)
	}
	caKey, err := parsePrivateKey(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("CA key: %w", err)
	}
	if !publicKeysEqual(caKey.Public(), caCert.PublicKey) {
		return nil, nil, fmt.Errorf("CA key: %w", ErrKeyMismatch)
	}
	return caCert, caKey, nil
}

// isKeyBlock reports whether a PEM type names an unencrypted private key.
func isKeyBlock(typ string) bool {
	return typ == "PRIVATE KEY" || typ == "EC PRIVATE KEY" || typ == "RSA PRIVATE KEY"
}

// publicKeysEqual compares public keys of the types crypto/x509 produces.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// encodePair PEM-encodes a certificate and its key.
func encodePair(der []byte, key *ecdsa.PrivateKey) (certPEM, keyPEM []byte, err error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// randomSerial returns a random positive 128-bit serial number, as RFC 5280
// recommends, so serials never collide across independently run commands.
func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generate serial: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}
