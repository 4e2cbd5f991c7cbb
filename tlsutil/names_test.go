package tlsutil

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

// namedConfig issues a certificate from ca with the node ID as common name
// and the given extra DNS names, and returns a Config using it.
func namedConfig(t *testing.T, ca *testutil.TestCA, id string, dns ...string) Config {
	t.Helper()
	certPEM, keyPEM, err := GenerateCert(ca.CertPEM, ca.KeyPEM, CertOptions{NodeID: id, DNSNames: dns})
	if err != nil {
		t.Fatal(err)
	}
	return writeConfig(t, ca, id, certPEM, keyPEM)
}

func writeConfig(t *testing.T, ca *testutil.TestCA, id string, certPEM, keyPEM []byte) Config {
	t.Helper()
	dir := t.TempDir()
	cfg := Config{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, id+".pem"), KeyFile: filepath.Join(dir, id+"-key.pem")}
	for path, data := range map[string][]byte{cfg.CAFile: ca.CertPEM, cfg.CertFile: certPEM, cfg.KeyFile: keyPEM} {
		if err := WriteFileAtomic(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

func TestValidateServerNames(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		names []string
		want  string // "" = valid
	}{
		"empty list":         {nil, ""},
		"exact":              {[]string{"n1.servers.example"}, ""},
		"bare node id":       {[]string{"node_1"}, ""},
		"wildcard":           {[]string{"*.servers.example", "n9"}, ""},
		"upper case":         {[]string{"N1.Servers.Example"}, ""},
		"empty entry":        {[]string{"ok", ""}, "ServerNames[1]"},
		"lone star":          {[]string{"*"}, "'*'"},
		"star dot":           {[]string{"*."}, "wildcard needs a domain"},
		"inner star":         {[]string{"a.*.example"}, "'*'"},
		"partial star":       {[]string{"n*.example"}, "'*'"},
		"double star":        {[]string{"*.*.example"}, "'*'"},
		"trailing dot":       {[]string{"n1.example."}, "empty label"},
		"double dot":         {[]string{"n1..example"}, "empty label"},
		"space":              {[]string{" n1"}, "not allowed"},
		"colon":              {[]string{"n1:7000"}, "not allowed"},
		"long label":         {[]string{strings.Repeat("a", 64)}, "longer than 63"},
		"long name":          {[]string{strings.Repeat("a.", 127) + "a"}, "longer than 253"},
		"unicode":            {[]string{"nœud.example"}, "not allowed"},
		"wildcard then junk": {[]string{"*.servers.example/x"}, "not allowed"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := ValidateServerNames(tc.names)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("want an ErrInvalidConfig naming %q, got %v", tc.want, err)
			}
		})
	}
	// Config.Validate checks the list too.
	cfg := Config{CAFile: "ca", CertFile: "c", KeyFile: "k", ServerNames: []string{"a.*"}}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "ServerNames[0]") {
		t.Fatalf("Validate with a bad server name: %v", err)
	}
}

func TestAllowListMatching(t *testing.T) {
	t.Parallel()
	cert := func(cn string, dns ...string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, DNSNames: dns}
	}
	cases := map[string]struct {
		list []string
		cert *x509.Certificate
		want bool
	}{
		"no list accepts all":         {nil, cert("anything"), true},
		"exact san":                   {[]string{"n1.servers.example"}, cert("n1", "n1", "n1.servers.example"), true},
		"exact cn only":               {[]string{"n1"}, cert("n1"), true},
		"case insensitive":            {[]string{"N1.servers.example"}, cert("x", "n1.SERVERS.example"), true},
		"one of several":              {[]string{"a", "b", "c"}, cert("x", "c"), true},
		"absent":                      {[]string{"n1"}, cert("n2", "n2", "localhost"), false},
		"wildcard one label":          {[]string{"*.servers.example"}, cert("n1", "n1.servers.example"), true},
		"wildcard on cn":              {[]string{"*.servers.example"}, cert("n1.servers.example"), true},
		"wildcard not the apex":       {[]string{"*.servers.example"}, cert("x", "servers.example"), false},
		"wildcard not two labels":     {[]string{"*.servers.example"}, cert("x", "a.b.servers.example"), false},
		"wildcard not a lookalike":    {[]string{"*.servers.example"}, cert("x", "n1.evilservers.example"), false},
		"wildcard not a suffix trick": {[]string{"*.servers.example"}, cert("x", "n1.servers.example.evil"), false},
		"exact is not a suffix":       {[]string{"servers.example"}, cert("x", "n1.servers.example"), false},
		"empty cn ignored":            {[]string{"n1"}, cert(""), false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			l, err := parseAllowList(tc.list)
			if err != nil {
				t.Fatal(err)
			}
			if got := l.permits(tc.cert); got != tc.want {
				t.Fatalf("permits(cn=%q dns=%v) with %v = %t, want %t", tc.cert.Subject.CommonName, tc.cert.DNSNames, tc.list, got, tc.want)
			}
			err = l.check(tc.cert)
			if (err == nil) != tc.want || (err != nil && !errors.Is(err, ErrNameNotAllowed)) {
				t.Fatalf("check = %v, want allowed %t", err, tc.want)
			}
		})
	}
}

func TestServerNamesHandshake(t *testing.T) {
	t.Parallel()
	ca := testutil.NewTestCA(t)
	allowed := []string{"*.servers.example"}
	withList := func(cfg Config) Config { cfg.ServerNames = allowed; return cfg }
	n1 := newConfigurator(t, withList(namedConfig(t, ca, "n1", "n1.servers.example")))
	n2 := newConfigurator(t, withList(namedConfig(t, ca, "n2", "n2.servers.example")))
	// Same CA, same list, but no allowed name.
	rogue := newConfigurator(t, withList(namedConfig(t, ca, "rogue", "rogue.other.example")))

	if _, srvErr, cliErr := exchange(t, n1.IncomingConfig(), n2.OutgoingConfig()); srvErr != nil || cliErr != nil {
		t.Fatalf("allowed peers: server error %v, client error %v", srvErr, cliErr)
	}
	// The server refuses a client without an allowed name...
	_, srvErr, cliErr := exchange(t, n1.IncomingConfig(), rogue.OutgoingConfig())
	if !errors.Is(srvErr, ErrNameNotAllowed) || cliErr == nil {
		t.Fatalf("rogue client: server error %v, client error %v; want the server to refuse the name", srvErr, cliErr)
	}
	if !strings.Contains(srvErr.Error(), "rogue.other.example") || !strings.Contains(srvErr.Error(), "*.servers.example") {
		t.Fatalf("refusal %q should name the peer's names and the list", srvErr)
	}
	// ...and a client refuses a server without one.
	if _, _, cliErr := exchange(t, rogue.IncomingConfig(), n1.OutgoingConfig()); !errors.Is(cliErr, ErrNameNotAllowed) {
		t.Fatalf("rogue server: client error %v, want ErrNameNotAllowed", cliErr)
	}
	// The client API is not about servers: the list does not apply there.
	for name, cfg := range map[string]*tls.Config{"optional": n1.IncomingHTTPSConfig(), "required": n1.IncomingHTTPSConfigRequireClientCert()} {
		client := rogue.OutgoingConfig()
		client.VerifyPeerCertificate = nil // the CLI checks the chain only
		if _, srvErr, cliErr := exchange(t, cfg, client); srvErr != nil || cliErr != nil {
			t.Fatalf("HTTPS (%s client cert) with a rogue-named client: server error %v, client error %v", name, srvErr, cliErr)
		}
	}
}

func TestServerNamesUpdateAppliesToHandedOutConfigs(t *testing.T) {
	t.Parallel()
	ca := testutil.NewTestCA(t)
	cfg := namedConfig(t, ca, "n1", "n1.servers.example")
	n1 := newConfigurator(t, cfg)
	peer := newConfigurator(t, namedConfig(t, ca, "peer"))
	incoming, outgoing := n1.IncomingConfig(), n1.OutgoingConfig() // before the update

	if _, srvErr, cliErr := exchange(t, incoming, peer.OutgoingConfig()); srvErr != nil || cliErr != nil {
		t.Fatalf("without a list: %v / %v", srvErr, cliErr)
	}
	cfg.ServerNames = []string{"n1", "other"}
	if err := n1.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if _, srvErr, _ := exchange(t, incoming, peer.OutgoingConfig()); !errors.Is(srvErr, ErrNameNotAllowed) {
		t.Fatalf("after Update the old incoming config accepted %q: %v", "peer", srvErr)
	}
	if _, _, cliErr := exchange(t, peer.IncomingConfig(), outgoing); !errors.Is(cliErr, ErrNameNotAllowed) {
		t.Fatalf("after Update the old outgoing config accepted %q: %v", "peer", cliErr)
	}
	// An invalid list is refused as a whole; the old one stays.
	bad := cfg
	bad.ServerNames = []string{"*"}
	if err := n1.Update(bad); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Update with a bad list: %v", err)
	}
	if got := n1.Config().ServerNames; len(got) != 2 {
		t.Fatalf("a failed Update changed the list to %v", got)
	}
	// Clearing the list accepts any certificate from the CA again.
	cfg.ServerNames = nil
	if err := n1.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if _, srvErr, cliErr := exchange(t, incoming, peer.OutgoingConfig()); srvErr != nil || cliErr != nil {
		t.Fatalf("after clearing the list: %v / %v", srvErr, cliErr)
	}
}

// TestServerNamesCommonNameOnly covers certificates from older tooling that
// carry the host name only as the subject common name.
func TestServerNamesCommonNameOnly(t *testing.T) {
	t.Parallel()
	ca := testutil.NewTestCA(t)
	key := ca.Key // any key works for the test; reuse the CA's to keep it short
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "legacy.servers.example"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	legacy := newConfigurator(t, writeConfig(t, ca, "legacy", pemCert(der), ca.KeyPEM))
	cfg := namedConfig(t, ca, "n1")
	cfg.ServerNames = []string{"*.servers.example"}
	n1 := newConfigurator(t, cfg)
	if _, srvErr, cliErr := exchange(t, n1.IncomingConfig(), legacy.OutgoingConfig()); srvErr != nil || cliErr != nil {
		t.Fatalf("CN-only certificate with an allowed name: %v / %v", srvErr, cliErr)
	}
}

// FuzzParseServerNames checks that any entry is either refused with an
// error or accepted and then matches a certificate carrying it literally
// (wildcards aside), without panicking.
func FuzzParseServerNames(f *testing.F) {
	for _, s := range []string{"n1", "*.servers.example", "*", "*.", "a..b", "A.B", "x*", strings.Repeat("a", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		l, err := parseAllowList([]string{name})
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			return
		}
		if strings.HasPrefix(name, "*.") {
			if !l.permits(&x509.Certificate{DNSNames: []string{"x" + name[1:]}}) {
				t.Fatalf("%q does not match x%s", name, name[1:])
			}
			return
		}
		if !l.permits(&x509.Certificate{DNSNames: []string{strings.ToUpper(name)}}) {
			t.Fatalf("%q does not match itself", name)
		}
	})
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
