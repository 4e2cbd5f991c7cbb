package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/tlsutil"
)

// File names the tls commands write; cert create reads the CA from the
// first two unless told otherwise.
const (
	caCertFile = "agent-ca.pem"
	caKeyFile  = "agent-ca-key.pem"
)

// listFlag is a repeatable flag that also splits comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func (c *cli) cmdTLSCACreate(args []string) int {
	fs := newFlagSet("agent tls ca create", "[-days N] [-common-name NAME]",
		"Creates a private CA for mutual TLS between agents: "+caCertFile+" and "+caKeyFile+"\nin the current directory (mode 0600). Existing files are never overwritten.\nKeep "+caKeyFile+" off the agents: only cert create needs it.")
	days := fs.Int("days", 0, "validity in days (default 5 years)")
	cn := fs.String("common-name", tlsutil.DefaultCACommonName, "the CA's subject common name")
	pos, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.usageError(fs, "unexpected argument %q", pos[0])
	}
	if *days < 0 {
		return c.usageError(fs, "-days must not be negative")
	}
	certPath, keyPath := c.path(caCertFile), c.path(caKeyFile)
	if err := refuseExisting(certPath, keyPath); err != nil {
		return c.fail(err)
	}
	certPEM, keyPEM, err := tlsutil.GenerateCA(tlsutil.CAOptions{CommonName: *cn, Validity: daysToDuration(*days)})
	if err != nil {
		return c.fail(fmt.Errorf("creating the CA: %w", err))
	}
	if err := writePair(certPath, certPEM, keyPath, keyPEM); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "Wrote %s and %s.\n", caCertFile, caKeyFile)
	return exitOK
}

func (c *cli) cmdTLSCertCreate(args []string) int {
	fs := newFlagSet("agent tls cert create", "-node ID [-dns NAME]... [-ip ADDR]... [-ca FILE -ca-key FILE] [-days N]",
		"Creates a node certificate for server and client auth, signed by the CA:\nID.pem and ID-key.pem in the current directory (mode 0600). The certificate\nnames the node ID as its common name and first DNS name. Existing files are\nnever overwritten.")
	node := fs.String("node", "", "the node `ID` (required)")
	var dns, ips listFlag
	fs.Var(&dns, "dns", "extra DNS `NAME` (repeatable or comma-separated)")
	fs.Var(&ips, "ip", "IP `ADDR`ess to include (repeatable or comma-separated)")
	caFile := fs.String("ca", caCertFile, "CA certificate `FILE`")
	caKey := fs.String("ca-key", caKeyFile, "CA private key `FILE`")
	days := fs.Int("days", 0, "validity in days (default 1 year, never past the CA's expiry)")
	pos, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.usageError(fs, "unexpected argument %q", pos[0])
	}
	opts, err := certOptions(*node, dns, ips, *days)
	if err != nil {
		return c.usageError(fs, "%v", err)
	}
	caPEM, err := os.ReadFile(c.path(*caFile))
	if err != nil {
		return c.fail(fmt.Errorf("reading the CA certificate: %w (create one with 'agent tls ca create' or pass -ca)", err))
	}
	caKeyPEM, err := os.ReadFile(c.path(*caKey))
	if err != nil {
		return c.fail(fmt.Errorf("reading the CA key: %w (pass -ca-key)", err))
	}
	certPath, keyPath := c.path(opts.NodeID+".pem"), c.path(opts.NodeID+"-key.pem")
	if err := refuseExisting(certPath, keyPath); err != nil {
		return c.fail(err)
	}
	certPEM, keyPEM, err := tlsutil.GenerateCert(caPEM, caKeyPEM, opts)
	if err != nil {
		return c.fail(fmt.Errorf("creating the certificate: %w", err))
	}
	if err := writePair(certPath, certPEM, keyPath, keyPEM); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "Wrote %s.pem and %s-key.pem.\n", opts.NodeID, opts.NodeID)
	return exitOK
}

func certOptions(node string, dns, ips []string, days int) (tlsutil.CertOptions, error) {
	if node == "" {
		return tlsutil.CertOptions{}, errors.New("-node is required")
	}
	// The ID names files, so it must be a valid node ID: no slashes, no "..".
	if !agent.ValidNodeID(node) {
		return tlsutil.CertOptions{}, fmt.Errorf("-node %q is not a valid node ID (1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit)", node)
	}
	if days < 0 {
		return tlsutil.CertOptions{}, errors.New("-days must not be negative")
	}
	opts := tlsutil.CertOptions{NodeID: node, DNSNames: dns, Validity: daysToDuration(days)}
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			return tlsutil.CertOptions{}, fmt.Errorf("-ip %q is not an IP address", s)
		}
		opts.IPAddresses = append(opts.IPAddresses, ip)
	}
	return opts, nil
}

func daysToDuration(days int) time.Duration { return time.Duration(days) * 24 * time.Hour }

func (c *cli) path(name string) string {
	if c.dir == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(c.dir, name)
}

// refuseExisting fails when any of paths exists: overwriting a CA key would
// orphan every certificate it signed.
func refuseExisting(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists; move it away first (refusing to overwrite)", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// writePair writes the key first, so a failure never leaves a certificate
// without its key.
func writePair(certPath string, certPEM []byte, keyPath string, keyPEM []byte) error {
	if err := tlsutil.WriteFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	if err := tlsutil.WriteFileAtomic(certPath, certPEM, 0o600); err != nil {
		_ = os.Remove(keyPath)
		return err
	}
	return nil
}
