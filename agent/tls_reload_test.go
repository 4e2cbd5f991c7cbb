package agent_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/internal/testutil"
	"github.com/clusteragent/agent/tlsutil"
)

// startTLSCluster starts three mutual-TLS servers, each with its own
// certificate from ca; watch is each node's file-watch interval.
func startTLSCluster(t *testing.T, ca *testutil.TestCA, watch map[string]time.Duration) []*agenttest.Node {
	t.Helper()
	nodes := startExpectCluster(t, 3, func(c *agent.Config) {
		certPEM, keyPEM := issue(t, ca, c.NodeID, 0)
		tlsFiles(t, c, ca, certPEM, keyPEM)
		c.Tuning.TLSWatchInterval = -1
		if d, ok := watch[c.NodeID]; ok {
			c.Tuning.TLSWatchInterval = d
		}
	})
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	waitSameApplied(t, nodes)
	return nodes
}

// raftTerms returns every node's current term and the leader's ID.
func raftTerms(nodes []*agenttest.Node) (map[string]uint64, string) {
	terms := map[string]uint64{}
	leader := ""
	for _, n := range nodes {
		st := n.Raft().Status()
		terms[n.ID] = st.Term
		if st.State == "leader" {
			leader = n.ID
		}
	}
	return terms, leader
}

// TestCertificateRotationWithoutElection rotates every node's certificate
// under a steady stream of writes: two nodes reload through the API, the
// third notices its files changed. No write fails, no election happens, and
// fresh connections see the new certificates.
func TestCertificateRotationWithoutElection(t *testing.T) {
	ca := testutil.NewTestCA(t)
	nodes := startTLSCluster(t, ca, map[string]time.Duration{"n3": 100 * time.Millisecond})
	client := probeClient(t, ca, "probe")
	writer := startWriter(t, nodes)
	writer.waitWrites(t, 10)
	termsBefore, leaderBefore := raftTerms(nodes)

	newSerial := map[string]string{}
	newPairs := map[string][2][]byte{}
	for _, n := range nodes {
		old, err := servedSerial(n, client)
		if err != nil {
			t.Fatalf("%s before rotation: %v", n.ID, err)
		}
		certPEM, keyPEM := issue(t, ca, n.ID, 0)
		newSerial[n.ID] = serialOf(t, certPEM)
		newPairs[n.ID] = [2][]byte{certPEM, keyPEM}
		writePair(t, n.Config.TLS, certPEM, keyPEM)
		if n.ID == "n3" {
			continue // the file watcher's job
		}
		res := reloadAPI(t, n)
		var ok httpapi.OK
		if res.code != 200 || json.Unmarshal(res.body, &ok) != nil || !ok.OK {
			t.Fatalf("%s: POST /v1/agent/reload = %d %s", n.ID, res.code, res.body)
		}
		if got, err := servedSerial(n, client); err != nil || got != newSerial[n.ID] || got == old {
			t.Fatalf("%s serves serial %s (%v) after reload; old %s, want %s", n.ID, got, err, old, newSerial[n.ID])
		}
	}
	testutil.WaitFor(t, 10*time.Second, func() error {
		got, err := servedSerial(nodes[2], client)
		if err != nil || got != newSerial["n3"] {
			return fmt.Errorf("n3 serves serial %s (%v), want %s from the watcher", got, err, newSerial["n3"])
		}
		return nil
	})
	// Each node's new certificate is accepted by the others as a client on
	// fresh connections too.
	for i, n := range nodes {
		peer := nodes[(i+1)%len(nodes)]
		pair, err := tlsPair(newPairs[n.ID][0], newPairs[n.ID][1])
		if err != nil {
			t.Fatal(err)
		}
		cfg := client.OutgoingConfig()
		cfg.GetClientCertificate, cfg.Certificates = nil, pair
		if _, err := probe(peer.Raft().Addr(), cfg); err != nil {
			t.Fatalf("%s refused %s's new certificate: %v", peer.ID, n.ID, err)
		}
	}
	// Raft and the agent API keep working on the new certificates.
	writer.waitWrites(t, 20)
	waitSameApplied(t, nodes)
	writer.halt()

	if f := writer.failures(); len(f) > 0 {
		t.Errorf("%d writes failed during the rotation: %v", len(f), f)
	}
	termsAfter, leaderAfter := raftTerms(nodes)
	if fmt.Sprint(termsAfter) != fmt.Sprint(termsBefore) || leaderAfter != leaderBefore {
		t.Errorf("rotation caused an election: terms %v -> %v, leader %s -> %s", termsBefore, termsAfter, leaderBefore, leaderAfter)
	}
	for _, n := range nodes {
		// Exactly one reload each: the watcher does not reload again what
		// it already loaded, and the API nodes have no watcher.
		if got := metric(t, n, "tls_reloads_total"); got != 1 {
			t.Errorf("%s: tls_reloads_total = %v, want 1", n.ID, got)
		}
		if got := metric(t, n, "tls_reload_failures_total"); got != 0 {
			t.Errorf("%s: tls_reload_failures_total = %v, want 0", n.ID, got)
		}
	}
}

// TestExpiredCertificateRefusedUntilReloaded: a node whose certificate
// expires can make no new connections, in either direction, until it
// reloads a valid one.
func TestExpiredCertificateRefusedUntilReloaded(t *testing.T) {
	ca := testutil.NewTestCA(t)
	nodes := startTLSCluster(t, ca, nil)
	client := probeClient(t, ca, "probe")
	f := followerOf(t, nodes)
	leader := agenttest.Leader(nodes...)
	if leader == nil {
		t.Fatal("no leader")
	}

	// Valid when loaded, expired a few seconds later (x509 validity has
	// one-second resolution, so leave some).
	shortCert, shortKey := issue(t, ca, f.ID, 5*time.Second)
	writePair(t, f.Config.TLS, shortCert, shortKey)
	if res := reloadAPI(t, f); res.code != 200 {
		t.Fatalf("reload of the short-lived certificate: %d %s", res.code, res.body)
	}
	// f's own certificate, presented as a client to the leader.
	asF := func(certPEM, keyPEM []byte) error {
		cfg := client.OutgoingConfig()
		pair, err := tlsPair(certPEM, keyPEM)
		if err != nil {
			return err
		}
		cfg.GetClientCertificate = nil
		cfg.Certificates = pair
		_, err = probe(leader.Raft().Addr(), cfg)
		return err
	}
	testutil.WaitFor(t, 20*time.Second, func() error {
		_, err := servedSerial(f, client)
		if err == nil {
			return fmt.Errorf("a fresh handshake with %s still succeeds", f.ID)
		}
		if !errors.Is(err, tlsutil.ErrExpired) {
			return fmt.Errorf("fresh handshake with %s failed, but not for expiry: %v", f.ID, err)
		}
		return nil
	})
	if err := asF(shortCert, shortKey); err == nil {
		t.Fatal("the leader accepted a new connection with the expired certificate")
	}
	if left := metric(t, f, "tls_certificate_expiry_seconds"); left >= 0 {
		t.Errorf("tls_certificate_expiry_seconds = %v after expiry, want negative", left)
	}

	goodCert, goodKey := issue(t, ca, f.ID, 0)
	writePair(t, f.Config.TLS, goodCert, goodKey)
	if res := reloadAPI(t, f); res.code != 200 {
		t.Fatalf("reload of a valid certificate: %d %s", res.code, res.body)
	}
	if got, err := servedSerial(f, client); err != nil || got != serialOf(t, goodCert) {
		t.Fatalf("after reload %s serves %s (%v), want %s", f.ID, got, err, serialOf(t, goodCert))
	}
	if err := asF(goodCert, goodKey); err != nil {
		t.Fatalf("the leader refused the renewed certificate: %v", err)
	}
	if left := metric(t, f, "tls_certificate_expiry_seconds"); left < 3600 {
		t.Errorf("tls_certificate_expiry_seconds = %v after renewal, want about a year", left)
	}
	if res := httpDo(t, "PUT", kvURL(f, "after/renewal", ""), "ok"); res.code != 200 {
		t.Fatalf("write through %s after renewal: %d %s", f.ID, res.code, res.body)
	}
}

// TestBrokenCertificateReloadKeepsServing: a garbage certificate or a key
// of another certificate makes the reload fail with an error naming the
// file; the failure is counted and the old certificate keeps serving.
func TestBrokenCertificateReloadKeepsServing(t *testing.T) {
	ca := testutil.NewTestCA(t)
	cfg := preferredConfig(t, "solo")
	cfg.Tuning.TLSWatchInterval = -1 // only explicit reloads here
	certPEM, keyPEM := issue(t, ca, "solo", 0)
	tlsFiles(t, &cfg, ca, certPEM, keyPEM)
	n := agenttest.Start(t, cfg)
	agenttest.WaitForConfig(t, formTimeout, []*agenttest.Node{n}, []string{"solo"}, nil)
	client := probeClient(t, ca, "probe")
	serving := serialOf(t, certPEM)
	_, otherKey := issue(t, ca, "other", 0)

	cases := []struct {
		name       string
		cert, key  []byte
		namedFile  string
		wantInBody string
	}{
		{"garbage certificate", []byte("this is not a certificate\n"), keyPEM, cfg.TLS.CertFile, "cert_file"},
		{"key of another certificate", certPEM, otherKey, cfg.TLS.KeyFile, "does not match"},
	}
	for i, tc := range cases {
		writePair(t, cfg.TLS, tc.cert, tc.key)
		res := reloadAPI(t, n)
		var body httpapi.ErrorBody
		if res.code != 500 || json.Unmarshal(res.body, &body) != nil || !strings.Contains(body.Error, tc.namedFile) || !strings.Contains(body.Error, tc.wantInBody) {
			t.Fatalf("%s: POST /v1/agent/reload = %d %s; want 500 naming %s", tc.name, res.code, res.body, tc.namedFile)
		}
		if got := metric(t, n, "tls_reload_failures_total"); got != float64(i+1) {
			t.Fatalf("%s: tls_reload_failures_total = %v, want %d", tc.name, got, i+1)
		}
		if got, err := servedSerial(n, client); err != nil || got != serving {
			t.Fatalf("%s: after the failed reload the agent serves %s (%v), want the old %s", tc.name, got, err, serving)
		}
	}
	// Agent.Reload reports the same error to its caller (SIGHUP's path).
	if err := n.Agent.Reload(); err == nil || !strings.Contains(err.Error(), cfg.TLS.KeyFile) {
		t.Fatalf("Agent.Reload with a mismatched key: %v", err)
	}
	// Fixed files load again.
	next, nextKey := issue(t, ca, "solo", 0)
	writePair(t, cfg.TLS, next, nextKey)
	if res := reloadAPI(t, n); res.code != 200 {
		t.Fatalf("reload of fixed files: %d %s", res.code, res.body)
	}
	if got, err := servedSerial(n, client); err != nil || got != serialOf(t, next) {
		t.Fatalf("after the fix the agent serves %s (%v), want %s", got, err, serialOf(t, next))
	}
	if got := metric(t, n, "tls_reloads_total"); got != 1 {
		t.Fatalf("tls_reloads_total = %v, want 1", got)
	}
}

// TestWatcherCountsABrokenChangeOnce: the watcher tries a broken change
// once, does not retry the same broken files on every tick, and picks up
// the fix.
func TestWatcherCountsABrokenChangeOnce(t *testing.T) {
	ca := testutil.NewTestCA(t)
	cfg := preferredConfig(t, "watched")
	cfg.Tuning.TLSWatchInterval = 50 * time.Millisecond
	certPEM, keyPEM := issue(t, ca, "watched", 0)
	tlsFiles(t, &cfg, ca, certPEM, keyPEM)
	n := agenttest.Start(t, cfg)
	client := probeClient(t, ca, "probe")

	writeAtomic(t, cfg.TLS.CertFile, []byte("garbage"))
	testutil.WaitFor(t, 10*time.Second, func() error {
		if got := metric(t, n, "tls_reload_failures_total"); got != 1 {
			return fmt.Errorf("tls_reload_failures_total = %v, want 1", got)
		}
		return nil
	})
	testutil.Never(t, 500*time.Millisecond, func() error {
		if got := metric(t, n, "tls_reload_failures_total"); got != 1 {
			return fmt.Errorf("the unchanged broken files were retried: failures %v", got)
		}
		return nil
	})
	if got, err := servedSerial(n, client); err != nil || got != serialOf(t, certPEM) {
		t.Fatalf("after the broken change the agent serves %s (%v), want the old certificate", got, err)
	}
	next, nextKey := issue(t, ca, "watched", 0)
	writePair(t, cfg.TLS, next, nextKey)
	testutil.WaitFor(t, 10*time.Second, func() error {
		got, err := servedSerial(n, client)
		if err != nil || got != serialOf(t, next) {
			return fmt.Errorf("serves %s (%v), want %s", got, err, serialOf(t, next))
		}
		return nil
	})
	if got := metric(t, n, "tls_reloads_total"); got != 1 {
		t.Fatalf("tls_reloads_total = %v, want 1", got)
	}
}

func TestReloadWithoutTLS(t *testing.T) {
	n := agenttest.Start(t, preferredConfig(t, "plain"))
	if err := n.Agent.Reload(); !errors.Is(err, agent.ErrTLSDisabled) {
		t.Fatalf("Reload without TLS: %v", err)
	}
	res := reloadAPI(t, n)
	var body httpapi.ErrorBody
	if res.code != 400 || json.Unmarshal(res.body, &body) != nil || !strings.Contains(body.Error, "tls is not enabled") {
		t.Fatalf("POST /v1/agent/reload without TLS = %d %s, want 400", res.code, res.body)
	}
	// Before Start there is nothing loaded yet.
	ca := testutil.NewTestCA(t)
	cfg := agenttest.Config(t, "unstarted")
	certPEM, keyPEM := issue(t, ca, "unstarted", 0)
	tlsFiles(t, &cfg, ca, certPEM, keyPEM)
	a, err := agent.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); !errors.Is(err, agent.ErrNotStarted) {
		t.Fatalf("Reload before Start: %v", err)
	}
}
