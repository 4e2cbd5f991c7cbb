package agent_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/internal/testutil"
	"github.com/clusteragent/agent/tlsutil"
)

// TestServerNamesKeepOutACertificateWithoutTheName: with tls.server_names,
// a server whose certificate comes from the right CA but lacks an allowed
// name gossips its way in, yet never enters the Raft configuration and
// never receives state; both protocols on the Raft port refuse it.
func TestServerNamesKeepOutACertificateWithoutTheName(t *testing.T) {
	ca := testutil.NewTestCA(t)
	allowed := []string{"*.servers.example"}
	nodes := startExpectCluster(t, 3, func(c *agent.Config) {
		certPEM, keyPEM := issue(t, ca, c.NodeID, 0, c.NodeID+".servers.example")
		tlsFiles(t, c, ca, certPEM, keyPEM)
		c.TLS.ServerNames = allowed
	})
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	waitSameApplied(t, nodes)

	rogue := joinNode(t, "rogue", nodes[0].GossipAddr(), func(c *agent.Config) {
		certPEM, keyPEM := issue(t, ca, c.NodeID, 0, "rogue.other.example")
		tlsFiles(t, c, ca, certPEM, keyPEM)
		c.TLS.ServerNames = allowed
	})
	testutil.WaitFor(t, formTimeout, func() error {
		if _, ok := nodes[0].Agent.Gossip().Member("rogue"); !ok {
			return fmt.Errorf("rogue not yet in gossip")
		}
		return nil
	})
	testutil.Never(t, 3*time.Second, func() error {
		if rogue.Raft().HasState() {
			return fmt.Errorf("rogue received raft state")
		}
		voters, nonvoters, err := agenttest.CountVoters(nodes)
		if err == nil && (slices.Contains(voters, "rogue") || slices.Contains(nonvoters, "rogue")) {
			return fmt.Errorf("rogue entered the configuration: %v %v", voters, nonvoters)
		}
		return nil
	})

	// At the handshake: the same CA, with and without an allowed name.
	good := probeClient(t, ca, "probe", "probe.servers.example")
	bad := probeClient(t, ca, "stranger", "stranger.other.example")
	addr := nodes[0].Raft().Addr()
	if _, err := probe(addr, good.OutgoingConfig()); err != nil {
		t.Fatalf("agent API refused an allowed name: %v", err)
	}
	if err := probeRaft(addr, good.OutgoingConfig()); err != nil {
		t.Fatalf("raft refused an allowed name: %v", err)
	}
	if _, err := probe(addr, bad.OutgoingConfig()); err == nil {
		t.Fatal("agent API accepted a certificate without an allowed name")
	}
	if err := probeRaft(addr, bad.OutgoingConfig()); err == nil {
		t.Fatal("raft accepted a certificate without an allowed name")
	}
	// And as a client, a server refuses to talk to the rogue.
	if _, err := probe(rogue.Raft().Addr(), serverNamesClient(t, ca, allowed)); !errors.Is(err, tlsutil.ErrNameNotAllowed) {
		t.Fatalf("dialing the rogue with the allow-list: %v, want ErrNameNotAllowed", err)
	}
}

// serverNamesClient is a client config with an allowed name that checks the
// server against the list, as agents do.
func serverNamesClient(t *testing.T, ca *testutil.TestCA, names []string) *tls.Config {
	t.Helper()
	var cfg agent.Config
	cfg.NodeID = "checker"
	certPEM, keyPEM := issue(t, ca, "checker", 0, "checker.servers.example")
	tlsFiles(t, &cfg, ca, certPEM, keyPEM)
	c, err := tlsutil.NewConfigurator(tlsutil.Config{CAFile: cfg.TLS.CAFile, CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile, ServerNames: names}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.OutgoingConfig()
}

// TestHTTPSVerifyClient: with http.verify_client the client API refuses
// HTTPS without a client certificate and serves one from the CA.
func TestHTTPSVerifyClient(t *testing.T) {
	ca := testutil.NewTestCA(t)
	cfg := preferredConfig(t, "secure")
	certPEM, keyPEM := issue(t, ca, "secure", 0)
	tlsFiles(t, &cfg, ca, certPEM, keyPEM)
	cfg.HTTP.TLS = true
	cfg.HTTP.VerifyClient = true
	n := agenttest.Start(t, cfg)

	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	get := func(certs []tls.Certificate) error {
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}, DisableKeepAlives: true,
		}}
		resp, err := client.Get("https://" + n.Agent.HTTPAddr() + "/v1/health/live")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	}
	if err := get(nil); err == nil {
		t.Fatal("HTTPS without a client certificate was served")
	} else if !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("refusal without a client certificate should be a TLS alert about it: %v", err)
	}
	opCert, opKey := issue(t, ca, "operator", 0)
	pair, err := tlsPair(opCert, opKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := get(pair); err != nil {
		t.Fatalf("HTTPS with a client certificate from the CA: %v", err)
	}
	strangerCert, strangerKey := issue(t, testutil.NewTestCA(t), "operator", 0)
	stranger, err := tlsPair(strangerCert, strangerKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := get(stranger); err == nil {
		t.Fatal("HTTPS with a client certificate from another CA was served")
	}
}

func TestTLSConfigValidation(t *testing.T) {
	cases := map[string]struct {
		mutate func(*agent.Config)
		key    string
	}{
		"verify_client without https": {func(c *agent.Config) { c.HTTP.VerifyClient = true }, "http.verify_client"},
		"server_names without tls":    {func(c *agent.Config) { c.TLS.ServerNames = []string{"n1"} }, "tls.server_names"},
		"bad server name": {func(c *agent.Config) {
			c.TLS = agent.TLSConfig{Enable: true, CAFile: "ca", CertFile: "c", KeyFile: "k", MinVersion: "tls12", ServerNames: []string{"a.*.b"}}
		}, "tls.server_names"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := agent.DefaultConfig()
			tc.mutate(&cfg)
			err := cfg.Validate()
			var ce *agent.ConfigError
			if !errors.As(err, &ce) || ce.Key != tc.key {
				t.Fatalf("Validate = %v, want a ConfigError for %s", err, tc.key)
			}
		})
	}
	ok := agent.DefaultConfig()
	ok.TLS = agent.TLSConfig{Enable: true, CAFile: "ca", CertFile: "c", KeyFile: "k", MinVersion: "tls12", ServerNames: []string{"*.servers.example"}}
	ok.HTTP.TLS, ok.HTTP.VerifyClient = true, true
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid TLS config refused: %v", err)
	}
}
