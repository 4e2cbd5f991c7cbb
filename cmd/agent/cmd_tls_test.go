package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestTLSCreate(t *testing.T) {
	c := newTestCLI(t)
	code, out, errOut := c.run("tls", "ca", "create", "-days", "30")
	if code != 0 || out != "Wrote agent-ca.pem and agent-ca-key.pem.\n" {
		t.Fatalf("ca create: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = c.run("tls", "cert", "create", "-node", "n1", "-dns", "localhost,n1.internal", "-ip", "127.0.0.1", "-ip", "::1", "-days", "7")
	if code != 0 || out != "Wrote n1.pem and n1-key.pem.\n" {
		t.Fatalf("cert create: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, name := range []string{"agent-ca.pem", "agent-ca-key.pem", "n1.pem", "n1-key.pem"} {
		st, err := os.Stat(filepath.Join(c.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, st.Mode().Perm())
		}
	}
	ca := readCert(t, filepath.Join(c.dir, "agent-ca.pem"))
	cert := readCert(t, filepath.Join(c.dir, "n1.pem"))
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "n1.internal",
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("node certificate does not verify against the CA: %v", err)
	}
	if got := strings.Join(cert.DNSNames, ","); got != "n1,localhost,n1.internal" {
		t.Errorf("DNS names %q", got)
	}
	if len(cert.IPAddresses) != 2 {
		t.Errorf("IP addresses %v", cert.IPAddresses)
	}
	if d := time.Until(cert.NotAfter); d > 8*24*time.Hour || d < 6*24*time.Hour {
		t.Errorf("certificate valid for %v, want about 7 days", d)
	}
}

func TestTLSRefusesToOverwrite(t *testing.T) {
	c := newTestCLI(t)
	if code, _, errOut := c.run("tls", "ca", "create"); code != 0 {
		t.Fatal(errOut)
	}
	before, _ := os.ReadFile(filepath.Join(c.dir, "agent-ca-key.pem"))
	code, _, errOut := c.run("tls", "ca", "create")
	if code != 1 || !strings.Contains(errOut, "agent-ca.pem already exists") {
		t.Errorf("second ca create: exit %d, stderr %q", code, errOut)
	}
	after, _ := os.ReadFile(filepath.Join(c.dir, "agent-ca-key.pem"))
	if string(before) != string(after) {
		t.Error("the CA key was overwritten")
	}
	if code, _, errOut := c.run("tls", "cert", "create", "-node", "n1"); code != 0 {
		t.Fatal(errOut)
	}
	code, _, errOut = c.run("tls", "cert", "create", "-node", "n1")
	if code != 1 || !strings.Contains(errOut, "n1.pem already exists") {
		t.Errorf("second cert create: exit %d, stderr %q", code, errOut)
	}
}

func TestTLSCertWithoutCA(t *testing.T) {
	c := newTestCLI(t)
	code, _, errOut := c.run("tls", "cert", "create", "-node", "n1")
	if code != 1 || !strings.Contains(errOut, "agent tls ca create") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	oneLine(t, "stderr", errOut)
	// An explicit CA elsewhere is read from there.
	other := newTestCLI(t)
	if code, _, errOut := other.run("tls", "ca", "create"); code != 0 {
		t.Fatal(errOut)
	}
	code, _, errOut = c.run("tls", "cert", "create", "-node", "n2",
		"-ca", filepath.Join(other.dir, "agent-ca.pem"), "-ca-key", filepath.Join(other.dir, "agent-ca-key.pem"))
	if code != 0 {
		t.Errorf("with -ca/-ca-key: exit %d, stderr %q", code, errOut)
	}
}
