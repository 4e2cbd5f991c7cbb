package tlsutil

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

// nodeConfig returns a Config for a fresh node certificate of ca.
func nodeConfig(t *testing.T, ca *testutil.TestCA, id string) Config {
	t.Helper()
	caFile, certFile, keyFile := ca.NodeFiles(t, id)
	return Config{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}
}

func newConfigurator(t *testing.T, cfg Config) *Configurator {
	t.Helper()
	c, err := NewConfigurator(cfg, nil)
	if err != nil {
		t.Fatalf("NewConfigurator: %v", err)
	}
	return c
}

// exchange runs one TLS handshake over loopback TCP and a one-byte echo, so
// failures that TLS 1.3 reports only after the client's handshake (a refused
// client certificate) surface too. It returns the server's and client's
// view of the connection and the server's and client's errors.
func exchange(t *testing.T, server, client *tls.Config) (state tls.ConnectionState, serverErr, clientErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() { done <- serveOnce(ln, server) }()

	clientErr = func() error {
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: client}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		state = conn.(*tls.Conn).ConnectionState()
		if _, err := conn.Write([]byte{'x'}); err != nil {
			return err
		}
		_, err = io.ReadFull(conn, make([]byte, 1))
		return err
	}()
	return state, <-done, clientErr
}

// serveOnce accepts one connection, completes the handshake and echoes one
// byte.
func serveOnce(ln net.Listener, cfg *tls.Config) error {
	raw, err := ln.Accept()
	if err != nil {
		return err
	}
	conn := tls.Server(raw, cfg)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if err := conn.Handshake(); err != nil {
		return err
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(conn, b); err != nil {
		return err
	}
	_, err = conn.Write(b)
	return err
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	full := Config{CAFile: "ca", CertFile: "c", KeyFile: "k"}
	cases := map[string]struct {
		mutate func(*Config)
		field  string
	}{
		"ok":           {func(*Config) {}, ""},
		"tls13":        {func(c *Config) { c.MinVersion = "tls13" }, ""},
		"no ca":        {func(c *Config) { c.CAFile = "" }, "CAFile"},
		"no cert":      {func(c *Config) { c.CertFile = "" }, "CertFile"},
		"no key":       {func(c *Config) { c.KeyFile = "" }, "KeyFile"},
		"bad min":      {func(c *Config) { c.MinVersion = "tls10" }, "MinVersion"},
		"ssl spelling": {func(c *Config) { c.MinVersion = "TLS1.2" }, "MinVersion"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := full
			tc.mutate(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.field) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("want error naming %s, got %v", tc.field, err)
			}
		})
	}
}

func TestNewConfiguratorRejectsBadMaterial(t *testing.T) {
	t.Parallel()
	ca := testutil.NewTestCA(t)
	other := testutil.NewTestCA(t)
	good := nodeConfig(t, ca, "n1")
	foreign := nodeConfig(t, other, "n2")
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a pem file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	_, expiredCert, expiredKey := ca.NodeFilesValidity(t, "old", now.Add(-48*time.Hour), now.Add(-time.Hour))
	_, futureCert, futureKey := ca.NodeFilesValidity(t, "new", now.Add(time.Hour), now.Add(48*time.Hour))

	cases := map[string]struct {
		cfg      Config
		sentinel error
		names    string
	}{
		"missing ca":      {Config{CAFile: filepath.Join(dir, "nope.pem"), CertFile: good.CertFile, KeyFile: good.KeyFile}, ErrUnreadable, "nope.pem"},
		"ca not pem":      {Config{CAFile: garbage, CertFile: good.CertFile, KeyFile: good.KeyFile}, ErrNotPEM, "ca_file"},
		"cert not pem":    {Config{CAFile: good.CAFile, CertFile: garbage, KeyFile: good.KeyFile}, ErrNotPEM, "cert_file"},
		"key not pem":     {Config{CAFile: good.CAFile, CertFile: good.CertFile, KeyFile: garbage}, ErrNotPEM, "key_file"},
		"key is a cert":   {Config{CAFile: good.CAFile, CertFile: good.CertFile, KeyFile: good.CertFile}, ErrNotPEM, "key_file"},
		"key mismatch":    {Config{CAFile: good.CAFile, CertFile: good.CertFile, KeyFile: foreign.KeyFile}, ErrKeyMismatch, foreign.KeyFile},
		"other ca":        {Config{CAFile: good.CAFile, CertFile: foreign.CertFile, KeyFile: foreign.KeyFile}, ErrNotSignedByCA, foreign.CertFile},
		"expired":         {Config{CAFile: good.CAFile, CertFile: expiredCert, KeyFile: expiredKey}, ErrExpired, expiredCert},
		"not yet valid":   {Config{CAFile: good.CAFile, CertFile: futureCert, KeyFile: futureKey}, ErrExpired, futureCert},
		"leaf used as ca": {Config{CAFile: good.CertFile, CertFile: good.CertFile, KeyFile: good.KeyFile}, nil, "not a CA"},
		"invalid min":     {Config{CAFile: good.CAFile, CertFile: good.CertFile, KeyFile: good.KeyFile, MinVersion: "x"}, ErrInvalidConfig, "MinVersion"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := NewConfigurator(tc.cfg, nil)
			if err == nil {
				t.Fatal("expected an error")
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Fatalf("error %q does not wrap %v", err, tc.sentinel)
			}
			if !strings.Contains(err.Error(), tc.names) {
				t.Fatalf("error %q does not name %q", err, tc.names)
			}
		})
	}
}

func TestHandshakeSameCA(t *testing.T) {
	t.Parallel()
	ca := testutil.NewTestCA(t)
	a := newConfigurator(t, nodeConfig(t, ca, "a"))
	b := newConfigurator(t, nodeConfig(t, ca, "b"))
	state, srvErr, cliErr := exchange(t, a.IncomingConfig(), b.OutgoingConfig())
	if srvErr != nil || cliErr != nil {
		t.Fatalf("server error %v, client error %v", srvErr, cliErr)
	}
	if state.Version != tls.VersionTLS13 {
		t.Fatalf("negotiated version %x, want TLS 1.3", state.Version)
	}
	if got := state.PeerCertificates[0].Subject.CommonName; got != "a" {
		t.Fatalf("client saw server %q, want a", got)
	}
}

func TestHandshakeTLS12OnlyAEAD(t *testing.T) {
	t.Parallel()
	ca := testutil.NewTestCA(t)
	a := newConfigurator(t, nodeConfig(t, ca, "a"))
	b := newConfigurator(t, nodeConfig(t, ca, "b"))
	client := b.OutgoingConfig()
	client.MaxVersion = tls.VersionTLS12
	state, srvErr, cliErr := exchange(t, a.IncomingConfig(), client)
	if srvErr != nil || cliErr != nil {
		t.Fatalf("server error %v, client error %v", srvErr, cliErr)
	}
	name := tls.CipherSuiteName(state.CipherSuite)
	if state.Version != tls.VersionTLS12 || !(strings.Contains(name, "GCM") || strings.Contains(name, "CHACHA20")) {
		t.Fatalf("negotiated %x %s, want TLS 1.2 with an AEAD suite", state.Version, name)
	}

	// A TLS 1.3-only server refuses a TLS 1.2-only client.
	cfg13 := nodeConfig(t, ca, "c")
	cfg13.MinVersion = VersionTLS13
	c13 := newConfigurator(t, cfg13)
	if _, srvErr, _ := exchange(t, c13.IncomingConfig(), client); srvErr == nil {
		t.Fatal("tls13 server accepted a TLS 1.2 client")
	}
}

func TestHandshakeRefusedWithOtherCA(t *testing.T) {
	t.Parallel()
	a := newConfigurator(t, nodeConfig(t, testutil.NewTestCA(t), "a"))
	b := newConfigurator(t, nodeConfig(t, testutil.NewTestCA(t), "b"))

	// b dials a: a must refuse b's client certificate, and b must refuse a's.
	_, srvErr, cliErr := exchange(t, a.IncomingConfig(), b.OutgoingConfig())
	if srvErr == nil || cliErr == nil {
		t.Fatalf("handshake across CAs: server error %v, client error %v", srvErr, cliErr)
	}
	if !strings.Contains(cliErr.Error(), "not signed by the CA") {
		t.Fatalf("client error %q should say the server is not signed by the CA", cliErr)
	}

	// A client presenting a foreign certificate to a server it does trust
	// is still refused by the server.
	trusting := b.OutgoingConfig()
	trusting.VerifyPeerCertificate = nil
	_, srvErr, cliErr = exchange(t, a.IncomingConfig(), trusting)
	if srvErr == nil || cliErr == nil {
		t.Fatalf("foreign client cert accepted: server error %v, client error %v", srvErr, cliErr)
	}
}

func TestHandshakeRefusedWithExpiredCert(t *testing.T) {
	t.Parallel()
	ca := testutil.NewTestCA(t)
	a := newConfigurator(t, nodeConfig(t, ca, "a"))
	now := time.Now()
	certPEM, keyPEM := ca.NodeCertPEM(t, "old", now.Add(-48*time.Hour), now.Add(-time.Hour))
	expired, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}

	// An expired client certificate is refused by the server.
	client := a.OutgoingConfig()
	client.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &expired, nil }
	if _, srvErr, cliErr := exchange(t, a.IncomingConfig(), client); srvErr == nil || cliErr == nil {
		t.Fatalf("expired client cert accepted: server error %v, client error %v", srvErr, cliErr)
	}

	// An expired server certificate is refused by the client.
	server := a.serverConfig(tls.RequireAndVerifyClientCert, true)
	server.Certificates = []tls.Certificate{expired}
	_, _, cliErr := exchange(t, server, a.OutgoingConfig())
	if cliErr == nil || !errors.Is(cliErr, ErrExpired) && !strings.Contains(cliErr.Error(), "expired") {
		t.Fatalf("client accepted an expired server cert: %v", cliErr)
	}
}

func TestServerNameCheck(t *testing.T) {
	t.Parallel()
	ca := testutil.NewTestCA(t)
	a := newConfigurator(t, nodeConfig(t, ca, "a"))
	cfg := nodeConfig(t, ca, "b")
	cfg.ServerName = "a"
	b := newConfigurator(t, cfg)
	if _, srvErr, cliErr := exchange(t, a.IncomingConfig(), b.OutgoingConfig()); srvErr != nil || cliErr != nil {
		t.Fatalf("server name a: server error %v, client error %v", srvErr, cliErr)
	}
	cfg.ServerName = "someone-else"
	c := newConfigurator(t, cfg)
	if _, _, cliErr := exchange(t, a.IncomingConfig(), c.OutgoingConfig()); cliErr == nil {
		t.Fatal("client accepted a server certificate for the wrong name")
	}
}

func TestPlainTCPClientRefused(t *testing.T) {
	t.Parallel()
	ca := testutil.NewTestCA(t)
	a := newConfigurator(t, nodeConfig(t, ca, "a"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() { done <- serveOnce(ln, a.IncomingConfig()) }()

	conn, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if srvErr := <-done; srvErr == nil {
		t.Fatal("TLS server completed a handshake with a plain TCP client")
	}
	// The server hung up: whatever it sent back (an alert or nothing), the
	// client sees the end of the stream, not application data.
	rest, _ := io.ReadAll(conn)
	if strings.Contains(string(rest), "HTTP") {
		t.Fatalf("plain client got application data: %q", rest)
	}
}

func TestReloadSwapsAndKeepsOldOnError(t *testing.T) {
	t.Parallel()
	ca := testutil.NewTestCA(t)
	cfg := nodeConfig(t, ca, "a")
	a := newConfigurator(t, cfg)
	peer := newConfigurator(t, nodeConfig(t, ca, "peer"))
	incoming := a.IncomingConfig() // handed out before any reload
	serialOf := func() string {
		t.Helper()
		state, srvErr, cliErr := exchange(t, incoming, peer.OutgoingConfig())
		if srvErr != nil || cliErr != nil {
			t.Fatalf("server error %v, client error %v", srvErr, cliErr)
		}
		return state.PeerCertificates[0].SerialNumber.String()
	}
	first := serialOf()

	// Rotate the certificate on disk: new handshakes present the new one.
	_, newCert, newKey := ca.NodeFiles(t, "a")
	copyFile(t, newCert, cfg.CertFile)
	copyFile(t, newKey, cfg.KeyFile)
	if err := a.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	second := serialOf()
	if second == first {
		t.Fatal("Reload did not change the served certificate")
	}
	if a.Certificate().SerialNumber.String() != second {
		t.Fatal("Certificate() does not report the served certificate")
	}

	// A broken key file: Reload fails, names the file, the old pair stays.
	if err := WriteFileAtomic(cfg.KeyFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := a.Reload()
	if err == nil || !strings.Contains(err.Error(), cfg.KeyFile) {
		t.Fatalf("Reload with a broken key: %v", err)
	}
	if got := serialOf(); got != second {
		t.Fatalf("after a failed reload the served serial is %s, want %s", got, second)
	}

	// A certificate from another CA is refused as a whole, too.
	_, foreignCert, foreignKey := testutil.NewTestCA(t).NodeFiles(t, "a")
	if err := a.Update(Config{CAFile: cfg.CAFile, CertFile: foreignCert, KeyFile: foreignKey}); !errors.Is(err, ErrNotSignedByCA) {
		t.Fatalf("Update with a foreign cert: %v", err)
	}
	if a.Config().CertFile != cfg.CertFile {
		t.Fatal("a failed Update changed the Config")
	}
	if got := serialOf(); got != second {
		t.Fatalf("after a failed update the served serial is %s, want %s", got, second)
	}
}

func TestUpdateMinVersion(t *testing.T) {
	t.Parallel()
	ca := testutil.NewTestCA(t)
	cfg := nodeConfig(t, ca, "a")
	a := newConfigurator(t, cfg)
	b := newConfigurator(t, nodeConfig(t, ca, "b"))
	incoming := a.IncomingConfig()
	client := b.OutgoingConfig()
	client.MaxVersion = tls.VersionTLS12
	if _, srvErr, cliErr := exchange(t, incoming, client); srvErr != nil || cliErr != nil {
		t.Fatalf("tls12 before update: %v / %v", srvErr, cliErr)
	}
	cfg.MinVersion = VersionTLS13
	if err := a.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if _, srvErr, _ := exchange(t, incoming, client); srvErr == nil {
		t.Fatal("after raising MinVersion the server still accepted TLS 1.2")
	}
}

func TestGenerateCAAndCert(t *testing.T) {
	t.Parallel()
	caPEM, caKeyPEM, err := GenerateCA(CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := GenerateCert(caPEM, caKeyPEM, CertOptions{
		NodeID: "node-1", DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := Config{CAFile: filepath.Join(dir, "agent-ca.pem"), CertFile: filepath.Join(dir, "node-1.pem"), KeyFile: filepath.Join(dir, "node-1-key.pem")}
	for path, data := range map[string][]byte{cfg.CAFile: caPEM, cfg.CertFile: certPEM, cfg.KeyFile: keyPEM} {
		if err := WriteFileAtomic(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v, want 0600", path, fi.Mode().Perm())
		}
	}
	c := newConfigurator(t, cfg)
	leaf := c.Certificate()
	if leaf.Subject.CommonName != "node-1" || len(leaf.DNSNames) != 2 || leaf.DNSNames[0] != "node-1" || len(leaf.IPAddresses) != 1 {
		t.Fatalf("unexpected SANs: cn=%q dns=%v ip=%v", leaf.Subject.CommonName, leaf.DNSNames, leaf.IPAddresses)
	}
	wantEKU := map[x509.ExtKeyUsage]bool{x509.ExtKeyUsageServerAuth: true, x509.ExtKeyUsageClientAuth: true}
	for _, u := range leaf.ExtKeyUsage {
		delete(wantEKU, u)
	}
	if len(wantEKU) != 0 {
		t.Fatalf("missing ext key usages: %v", wantEKU)
	}
	// Without -ip/-dns the certificate carries only the node ID.
	plainPEM, plainKey, err := GenerateCert(caPEM, caKeyPEM, CertOptions{NodeID: "node-2"})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(plainPEM, plainKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(pair.Leaf.DNSNames) != 1 || len(pair.Leaf.IPAddresses) != 0 {
		t.Fatalf("default SANs: dns=%v ip=%v", pair.Leaf.DNSNames, pair.Leaf.IPAddresses)
	}
}

func TestGenerateCertRejectsBadCA(t *testing.T) {
	t.Parallel()
	caPEM, caKeyPEM, err := GenerateCA(CAOptions{CommonName: "one"})
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := GenerateCA(CAOptions{CommonName: "two"})
	if err != nil {
		t.Fatal(err)
	}
	nodePEM, nodeKey, err := GenerateCert(caPEM, caKeyPEM, CertOptions{NodeID: "n"})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		cert, key []byte
		opts      CertOptions
		want      string
	}{
		"no node id":     {caPEM, caKeyPEM, CertOptions{}, "NodeID"},
		"negative":       {caPEM, caKeyPEM, CertOptions{NodeID: "n", Validity: -time.Second}, "Validity"},
		"key mismatch":   {caPEM, otherKey, CertOptions{NodeID: "n"}, "does not match"},
		"not a ca":       {nodePEM, nodeKey, CertOptions{NodeID: "n"}, "not a CA"},
		"ca not pem":     {[]byte("x"), caKeyPEM, CertOptions{NodeID: "n"}, "CA certificate"},
		"ca key not pem": {caPEM, []byte("x"), CertOptions{NodeID: "n"}, "CA key"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := GenerateCert(tc.cert, tc.key, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error containing %q, got %v", tc.want, err)
			}
		})
	}
}

func TestWriteFileAtomicReplaces(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "f")
	for _, content := range []string{"one", "two"} {
		if err := WriteFileAtomic(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil || len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v %v", entries, err)
	}
	if err := WriteFileAtomic(filepath.Join(path, "sub"), nil, 0o600); err == nil {
		t.Fatal("writing below a regular file should fail")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
