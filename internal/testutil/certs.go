package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCA is a throwaway certificate authority for tests. It is built with
// crypto/x509 directly so this package stays free of project imports.
type TestCA struct {
	// Cert is the CA certificate.
	Cert *x509.Certificate
	// Key is the CA private key.
	Key *ecdsa.PrivateKey
	// CertPEM and KeyPEM are the PEM encodings of Cert and Key (PKCS#8).
	CertPEM, KeyPEM []byte
}

// NewTestCA creates a P-256 CA valid from an hour ago for a day.
func NewTestCA(t testing.TB) *TestCA {
	t.Helper()
	key := newKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(t),
		Subject:               pkix.Name{CommonName: "test CA " + t.Name()},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create test CA: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse test CA: %v", err)
	}
	return &TestCA{Cert: cert, Key: key, CertPEM: encodeCert(der), KeyPEM: encodeKey(t, key)}
}

// NodeFiles issues a certificate for nodeID (DNS SANs nodeID and localhost,
// IP SAN 127.0.0.1, server and client auth, valid now) and writes the CA,
// certificate and key as PEM files into a fresh t.TempDir().
func (ca *TestCA) NodeFiles(t testing.TB, nodeID string) (caFile, certFile, keyFile string) {
	t.Helper()
	now := time.Now()
	return ca.NodeFilesValidity(t, nodeID, now.Add(-time.Hour), now.Add(12*time.Hour))
}

// NodeFilesValidity is NodeFiles with an explicit validity window, for
// expired or not-yet-valid certificates.
func (ca *TestCA) NodeFilesValidity(t testing.TB, nodeID string, notBefore, notAfter time.Time) (caFile, certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM := ca.NodeCertPEM(t, nodeID, notBefore, notAfter)
	dir := t.TempDir()
	caFile = filepath.Join(dir, "ca.pem")
	certFile = filepath.Join(dir, nodeID+".pem")
	keyFile = filepath.Join(dir, nodeID+"-key.pem")
	writeFile(t, caFile, ca.CertPEM)
	writeFile(t, certFile, certPEM)
	writeFile(t, keyFile, keyPEM)
	return caFile, certFile, keyFile
}

// NodeCertPEM issues a node certificate like NodeFiles and returns it and its
// key as PEM without writing files.
func (ca *TestCA) NodeCertPEM(t testing.TB, nodeID string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(t),
		Subject:      pkix.Name{CommonName: nodeID},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{nodeID, "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatalf("issue test certificate for %q: %v", nodeID, err)
	}
	return encodeCert(der), encodeKey(t, key)
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return key
}

func newSerial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatalf("serial: %v", err)
	}
	return n.Add(n, big.NewInt(1))
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(t testing.TB, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("encode key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}
