package agent_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/api"
	"github.com/clusteragent/agent/internal/mux"
	"github.com/clusteragent/agent/internal/testutil"
	"github.com/clusteragent/agent/tlsutil"
)

// issue makes a node certificate from ca for id with extra DNS names, valid
// for validity (0: the default), usable on 127.0.0.1.
func issue(t *testing.T, ca *testutil.TestCA, id string, validity time.Duration, dns ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	certPEM, keyPEM, err := tlsutil.GenerateCert(ca.CertPEM, ca.KeyPEM, tlsutil.CertOptions{
		NodeID: id, DNSNames: append([]string{"localhost"}, dns...), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, Validity: validity,
	})
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

// tlsFiles writes ca's certificate and a pair into a fresh directory and
// points cfg's tls block at them.
func tlsFiles(t *testing.T, cfg *agent.Config, ca *testutil.TestCA, certPEM, keyPEM []byte) {
	t.Helper()
	dir := t.TempDir()
	cfg.TLS.Enable = true
	cfg.TLS.CAFile = filepath.Join(dir, "ca.pem")
	cfg.TLS.CertFile = filepath.Join(dir, cfg.NodeID+".pem")
	cfg.TLS.KeyFile = filepath.Join(dir, cfg.NodeID+"-key.pem")
	writeAtomic(t, cfg.TLS.CAFile, ca.CertPEM)
	writePair(t, cfg.TLS, certPEM, keyPEM)
}

// writePair replaces the certificate and key files, each atomically, as
// rotation tooling does.
func writePair(t *testing.T, tc agent.TLSConfig, certPEM, keyPEM []byte) {
	t.Helper()
	writeAtomic(t, tc.CertFile, certPEM)
	writeAtomic(t, tc.KeyFile, keyPEM)
}

func writeAtomic(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := tlsutil.WriteFileAtomic(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func serialOf(t *testing.T, certPEM []byte) string {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("no PEM block in the certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.SerialNumber.String()
}

// probeClient is a TLS client identity from ca, for dialing agents the way
// another agent does.
func probeClient(t *testing.T, ca *testutil.TestCA, id string, dns ...string) *tlsutil.Configurator {
	t.Helper()
	var cfg agent.Config
	cfg.NodeID = id
	certPEM, keyPEM := issue(t, ca, id, 0, dns...)
	tlsFiles(t, &cfg, ca, certPEM, keyPEM)
	c, err := tlsutil.NewConfigurator(tlsutil.Config{CAFile: cfg.TLS.CAFile, CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// probe opens a fresh connection to raftAddr with the agent protocol byte,
// completes a TLS handshake with cfg and one HTTP request, so a refusal of
// our certificate (which TLS 1.3 reports only after the client's side of
// the handshake) surfaces too. It returns the certificate the agent
// presented.
func probe(raftAddr string, cfg *tls.Config) (*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	raw, err := mux.Dialer(mux.ProtoAgent)(ctx, "tcp", raftAddr)
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	req, _ := http.NewRequest(http.MethodGet, "https://"+raftAddr+"/v1/health/live", nil)
	req.Close = true
	if err := req.Write(conn); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/health/live over the agent port: %s", resp.Status)
	}
	return conn.ConnectionState().PeerCertificates[0], nil
}

// probeRaft dials the Raft protocol with cfg and reports whether the agent
// refused our certificate: the Raft side never speaks first, so an accepted
// connection is silent (the read times out) and a refused one gets an alert.
func probeRaft(raftAddr string, cfg *tls.Config) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	raw, err := mux.Dialer(mux.ProtoRaft)(ctx, "tcp", raftAddr)
	if err != nil {
		return err
	}
	defer raw.Close()
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		return err
	}
	_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if err == nil {
		err = errors.New("raft sent data unprompted")
	}
	return err
}

// servedSerial is the serial of the certificate n presents to a fresh
// connection.
func servedSerial(n *agenttest.Node, client *tlsutil.Configurator) (string, error) {
	cert, err := probe(n.Raft().Addr(), client.OutgoingConfig())
	if err != nil {
		return "", err
	}
	return cert.SerialNumber.String(), nil
}

// reloadAPI asks n to reload through POST /v1/agent/reload.
func reloadAPI(t *testing.T, n *agenttest.Node) httpResult {
	t.Helper()
	return httpDo(t, "POST", "http://"+n.Agent.HTTPAddr()+"/v1/agent/reload", "")
}

// metric reads a counter or gauge from n's registry.
func metric(t *testing.T, n *agenttest.Node, name string) float64 {
	t.Helper()
	fams, err := n.Agent.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		m := f.GetMetric()[0]
		if f.GetType() == dto.MetricType_COUNTER {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("%s: metric %s not registered", n.ID, name)
	return 0
}

// kvWriter writes keys through the nodes' HTTP APIs in turn until stopped
// and records every failure: rotation must not cost a single write.
type kvWriter struct {
	stop chan struct{}
	done chan struct{}
	ok   atomic.Int64
	mu   sync.Mutex
	errs []string
}

// maxWrites bounds a writer that nobody stops.
const maxWrites = 20000

func startWriter(t *testing.T, nodes []*agenttest.Node) *kvWriter {
	w := &kvWriter{stop: make(chan struct{}), done: make(chan struct{})}
	apis := make([]*api.Client, len(nodes))
	for i, n := range nodes {
		apis[i] = nodeAPI(t, n, 10*time.Second)
	}
	go func() {
		defer close(w.done)
		for i := 0; i < maxWrites; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			n := nodes[i%len(nodes)]
			_, err := apis[i%len(nodes)].KVPut(context.Background(), fmt.Sprintf("rotation/%d", i), []byte("v"), nil)
			if err != nil {
				w.mu.Lock()
				w.errs = append(w.errs, fmt.Sprintf("PUT via %s: %v", n.ID, err))
				w.mu.Unlock()
				continue
			}
			w.ok.Add(1)
		}
	}()
	t.Cleanup(w.halt)
	return w
}

// waitWrites waits for more successful writes than now.
func (w *kvWriter) waitWrites(t *testing.T, more int64) {
	t.Helper()
	target := w.ok.Load() + more
	testutil.WaitFor(t, 30*time.Second, func() error {
		if got := w.ok.Load(); got < target {
			return fmt.Errorf("%d writes so far, waiting for %d (failures: %v)", got, target, w.failures())
		}
		return nil
	})
}

func (w *kvWriter) failures() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.errs...)
}

func (w *kvWriter) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// tlsPair parses a certificate and key for a raw tls.Config.
func tlsPair(certPEM, keyPEM []byte) ([]tls.Certificate, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return []tls.Certificate{pair}, nil
}
