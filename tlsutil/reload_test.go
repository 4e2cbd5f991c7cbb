package tlsutil

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

// echoServer accepts TLS connections with cfg and echoes every byte until
// the test ends. It returns the address.
func echoServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// dialEcho connects, checks one echoed byte and returns the connection.
func dialEcho(addr string, cfg *tls.Config) (*tls.Conn, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := c.(*tls.Conn)
	if err := echoOnce(tc); err != nil {
		tc.Close()
		return nil, err
	}
	return tc, nil
}

func echoOnce(c *tls.Conn) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	if _, err := c.Write([]byte{'x'}); err != nil {
		return err
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		return err
	}
	if b[0] != 'x' {
		return fmt.Errorf("echoed %q", b)
	}
	return nil
}

func serial(c *tls.Conn) string {
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// rotate writes a fresh certificate and key for id from ca over cfg's
// files, atomically, the way an operator's tooling would.
func rotate(t *testing.T, ca *testutil.TestCA, cfg Config, id string) {
	t.Helper()
	_, newCert, newKey := ca.NodeFiles(t, id)
	copyFile(t, newCert, cfg.CertFile)
	copyFile(t, newKey, cfg.KeyFile)
}

func TestReloadKeepsEstablishedConnections(t *testing.T) {
	t.Parallel()
	ca := testutil.NewTestCA(t)
	cfg := nodeConfig(t, ca, "a")
	a := newConfigurator(t, cfg)
	peer := newConfigurator(t, nodeConfig(t, ca, "peer"))
	addr := echoServer(t, a.IncomingConfig())

	old, err := dialEcho(addr, peer.OutgoingConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	rotate(t, ca, cfg, "a")
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := echoOnce(old); err != nil {
		t.Fatalf("a connection made before the reload broke: %v", err)
	}
	fresh, err := dialEcho(addr, peer.OutgoingConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if serial(fresh) == serial(old) || serial(fresh) != a.Certificate().SerialNumber.String() {
		t.Fatalf("new connection got serial %s, old %s, current %s", serial(fresh), serial(old), a.Certificate().SerialNumber)
	}
}

func TestReloadHalfRotatedThenComplete(t *testing.T) {
	t.Parallel()
	ca := testutil.NewTestCA(t)
	cfg := nodeConfig(t, ca, "a")
	a := newConfigurator(t, cfg)
	before := a.Certificate().SerialNumber.String()

	// The certificate arrives before its key: the pair does not match.
	_, newCert, newKey := ca.NodeFiles(t, "a")
	copyFile(t, newCert, cfg.CertFile)
	err := a.Reload()
	if !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), cfg.KeyFile) || !strings.Contains(err.Error(), cfg.CertFile) {
		t.Fatalf("half-rotated reload: %v; want ErrKeyMismatch naming both files", err)
	}
	if got := a.Certificate().SerialNumber.String(); got != before {
		t.Fatalf("a failed reload changed the certificate to %s", got)
	}
	copyFile(t, newKey, cfg.KeyFile)
	if err := a.Reload(); err != nil {
		t.Fatalf("reload after the key arrived: %v", err)
	}
	if a.Certificate().SerialNumber.String() == before {
		t.Fatal("the completed rotation did not change the certificate")
	}
}

func TestReloadRefusesBadFilesAndKeepsServing(t *testing.T) {
	t.Parallel()
	ca := testutil.NewTestCA(t)
	now := time.Now()
	_, expiredCert, expiredKey := ca.NodeFilesValidity(t, "a", now.Add(-48*time.Hour), now.Add(-time.Hour))
	_, foreignCert, foreignKey := testutil.NewTestCA(t).NodeFiles(t, "a")
	cases := map[string]struct {
		prepare  func(t *testing.T, cfg Config)
		sentinel error
		names    func(cfg Config) string
	}{
		"expired": {func(t *testing.T, cfg Config) {
			copyFile(t, expiredCert, cfg.CertFile)
			copyFile(t, expiredKey, cfg.KeyFile)
		}, ErrExpired, func(c Config) string { return c.CertFile }},
		"other ca": {func(t *testing.T, cfg Config) {
			copyFile(t, foreignCert, cfg.CertFile)
			copyFile(t, foreignKey, cfg.KeyFile)
		}, ErrNotSignedByCA, func(c Config) string { return c.CertFile }},
		"cert removed": {func(t *testing.T, cfg Config) {
			if err := os.Remove(cfg.CertFile); err != nil {
				t.Fatal(err)
			}
		}, ErrUnreadable, func(c Config) string { return c.CertFile }},
		"garbage cert": {func(t *testing.T, cfg Config) {
			if err := WriteFileAtomic(cfg.CertFile, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, nil, func(c Config) string { return c.CertFile }},
		"ca truncated": {func(t *testing.T, cfg Config) {
			if err := WriteFileAtomic(cfg.CAFile, ca.CertPEM[:len(ca.CertPEM)/2], 0o600); err != nil {
				t.Fatal(err)
			}
		}, ErrNotPEM, func(c Config) string { return c.CAFile }},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := nodeConfig(t, ca, "a")
			a := newConfigurator(t, cfg)
			peer := newConfigurator(t, nodeConfig(t, ca, "peer"))
			addr := echoServer(t, a.IncomingConfig())
			before := a.Certificate().SerialNumber.String()
			tc.prepare(t, cfg)
			err := a.Reload()
			if err == nil || (tc.sentinel != nil && !errors.Is(err, tc.sentinel)) || !strings.Contains(err.Error(), tc.names(cfg)) {
				t.Fatalf("Reload: %v; want %v naming %s", err, tc.sentinel, tc.names(cfg))
			}
			c, err := dialEcho(addr, peer.OutgoingConfig())
			if err != nil {
				t.Fatalf("handshake after a failed reload: %v", err)
			}
			defer c.Close()
			if serial(c) != before {
				t.Fatalf("served serial %s after a failed reload, want %s", serial(c), before)
			}
		})
	}
}

// TestReloadCARotation rotates the CA the safe way: first a bundle with both
// CAs, then certificates from the new CA, then the new CA alone.
func TestReloadCARotation(t *testing.T) {
	t.Parallel()
	oldCA, newCA := testutil.NewTestCA(t), testutil.NewTestCA(t)
	cfg := nodeConfig(t, oldCA, "a")
	a := newConfigurator(t, cfg)
	oldPeer := newConfigurator(t, nodeConfig(t, oldCA, "old-peer"))
	newPeer := newConfigurator(t, nodeConfig(t, newCA, "new-peer"))
	addr := echoServer(t, a.IncomingConfig())
	try := func(peer *Configurator) error {
		client := peer.OutgoingConfig()
		client.VerifyPeerCertificate = nil // judge only a's side
		c, err := dialEcho(addr, client)
		if err == nil {
			c.Close()
		}
		return err
	}

	if err := WriteFileAtomic(cfg.CAFile, bytes.Join([][]byte{oldCA.CertPEM, newCA.CertPEM}, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := try(oldPeer); err != nil {
		t.Fatalf("old-CA peer refused while both CAs are trusted: %v", err)
	}
	if err := try(newPeer); err != nil {
		t.Fatalf("new-CA peer refused while both CAs are trusted: %v", err)
	}
	rotate(t, newCA, cfg, "a")
	if err := WriteFileAtomic(cfg.CAFile, newCA.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := try(oldPeer); err == nil {
		t.Fatal("old-CA peer accepted after the old CA was dropped")
	}
	if err := try(newPeer); err != nil {
		t.Fatalf("new-CA peer refused after the rotation: %v", err)
	}
}

// TestReloadDuringHandshakes races reloads against handshakes in both
// directions; every handshake must succeed (both certificates are valid)
// and the race detector must stay quiet.
func TestReloadDuringHandshakes(t *testing.T) {
	t.Parallel()
	ca := testutil.NewTestCA(t)
	cfg := nodeConfig(t, ca, "a")
	a := newConfigurator(t, cfg)
	peer := newConfigurator(t, nodeConfig(t, ca, "peer"))
	toA := echoServer(t, a.IncomingConfig())
	fromA := echoServer(t, peer.IncomingConfig())

	const rounds = 4
	pairs := make([][2][]byte, rounds)
	for i := range pairs {
		pairs[i][0], pairs[i][1] = ca.NodeCertPEM(t, "a", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	}
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for _, target := range []struct {
		addr string
		cfg  func() *tls.Config
	}{{toA, peer.OutgoingConfig}, {fromA, a.OutgoingConfig}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 40; n++ {
				c, err := dialEcho(target.addr, target.cfg())
				if err != nil {
					errs <- err
					return
				}
				c.Close()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// Reload over and over until the handshakes are through.
	reloads := 0
	for busy := true; busy; reloads++ {
		select {
		case <-done:
			busy = false
		default:
		}
		p := pairs[reloads%rounds]
		if err := WriteFileAtomic(cfg.CertFile, p[0], 0o600); err != nil {
			t.Fatal(err)
		}
		if err := WriteFileAtomic(cfg.KeyFile, p[1], 0o600); err != nil {
			t.Fatal(err)
		}
		if err := a.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	close(errs)
	for err := range errs {
		t.Errorf("handshake during reloads: %v", err)
	}
	if reloads < 2 {
		t.Fatalf("only %d reloads overlapped the handshakes", reloads)
	}
}

// TestCertificateExpiresWhileLoaded: a certificate that was valid when
// loaded stops working for new handshakes once it expires, and a reload of
// a valid one brings them back.
func TestCertificateExpiresWhileLoaded(t *testing.T) {
	t.Parallel()
	ca := testutil.NewTestCA(t)
	now := time.Now()
	// x509 validity has one-second resolution: leave a few seconds.
	caFile, certFile, keyFile := ca.NodeFilesValidity(t, "a", now.Add(-time.Hour), now.Add(3*time.Second))
	cfg := Config{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}
	a := newConfigurator(t, cfg)
	peer := newConfigurator(t, nodeConfig(t, ca, "peer"))
	addr := echoServer(t, a.IncomingConfig())

	c, err := dialEcho(addr, peer.OutgoingConfig())
	if err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	defer c.Close()
	testutil.WaitFor(t, 15*time.Second, func() error {
		fresh, err := dialEcho(addr, peer.OutgoingConfig())
		if err == nil {
			fresh.Close()
			return fmt.Errorf("a fresh handshake still succeeds (not_after %s)", a.Certificate().NotAfter)
		}
		if !errors.Is(err, ErrExpired) {
			return fmt.Errorf("fresh handshake failed for another reason: %v", err)
		}
		return nil
	})
	// Reloading the expired files fails; a valid certificate fixes it.
	if err := a.Reload(); !errors.Is(err, ErrExpired) {
		t.Fatalf("reload of the expired certificate: %v", err)
	}
	rotate(t, ca, cfg, "a")
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	fresh, err := dialEcho(addr, peer.OutgoingConfig())
	if err != nil {
		t.Fatalf("after reloading a valid certificate: %v", err)
	}
	fresh.Close()
}

func TestHTTPSRequireClientCert(t *testing.T) {
	t.Parallel()
	ca := testutil.NewTestCA(t)
	a := newConfigurator(t, nodeConfig(t, ca, "a"))
	client := newConfigurator(t, nodeConfig(t, ca, "operator"))
	foreign := newConfigurator(t, nodeConfig(t, testutil.NewTestCA(t), "stranger"))
	addr := echoServer(t, a.IncomingHTTPSConfigRequireClientCert())

	noCert := client.OutgoingConfig()
	noCert.GetClientCertificate = nil
	if c, err := dialEcho(addr, noCert); err == nil {
		c.Close()
		t.Fatal("a client without a certificate was served")
	}
	wrongCA := foreign.OutgoingConfig()
	wrongCA.VerifyPeerCertificate = nil
	if c, err := dialEcho(addr, wrongCA); err == nil {
		c.Close()
		t.Fatal("a client with a certificate from another CA was served")
	}
	c, err := dialEcho(addr, client.OutgoingConfig())
	if err != nil {
		t.Fatalf("a client with a certificate from the CA: %v", err)
	}
	c.Close()

	// The optional variant serves a client without a certificate.
	opt := echoServer(t, a.IncomingHTTPSConfig())
	c, err = dialEcho(opt, noCert)
	if err != nil {
		t.Fatalf("optional client cert, none given: %v", err)
	}
	c.Close()
}
