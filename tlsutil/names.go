package tlsutil

import (
	"crypto/x509"
	"fmt"
	"strings"
)

// maxNameLen is the longest DNS name (RFC 1035), and so the longest
// allow-list entry worth accepting.
const maxNameLen = 253

// allowList is a parsed Config.ServerNames: the certificate names a peer
// must carry to be accepted. A nil *allowList accepts every certificate,
// which keeps the default ("any certificate from our CA") free of checks.
//
// Entries are either exact names or "*.suffix" wildcards. A wildcard stands
// for exactly one leftmost label, as in certificate host-name matching
// (RFC 6125): "*.servers.example" accepts "n1.servers.example" but neither
// "servers.example" nor "a.b.servers.example". The narrow rule is on purpose:
// a deeper match would let a certificate issued for a sub-zone pass as a
// server.
type allowList struct {
	exact    map[string]struct{}
	suffixes []string // ".servers.example" for "*.servers.example"
	entries  []string // as configured, lowercased, for error messages
}

// ValidateServerNames checks Config.ServerNames entries without building
// anything, so callers (the agent's config validation) can report a bad
// entry before touching any file. The error names the entry and its index.
func ValidateServerNames(names []string) error {
	_, err := parseAllowList(names)
	return err
}

// parseAllowList validates names and builds the matcher; nil for an empty
// list.
func parseAllowList(names []string) (*allowList, error) {
	if len(names) == 0 {
		return nil, nil
	}
	l := &allowList{exact: make(map[string]struct{}, len(names))}
	for i, raw := range names {
		name := strings.ToLower(raw)
		if err := checkPattern(name); err != nil {
			return nil, fmt.Errorf("%w: ServerNames[%d] %q: %v", ErrInvalidConfig, i, raw, err)
		}
		l.entries = append(l.entries, name)
		if suffix, ok := strings.CutPrefix(name, "*"); ok {
			l.suffixes = append(l.suffixes, suffix)
			continue
		}
		l.exact[name] = struct{}{}
	}
	return l, nil
}

// checkPattern accepts a DNS-like name ("n1.servers.example", or a bare node
// ID such as "node_1") or "*." followed by one. Node IDs may contain '_' and
// certificates made by `agent tls cert create` carry the node ID as a DNS
// name, so '_' is allowed although DNS host names forbid it.
func checkPattern(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("longer than %d bytes", maxNameLen)
	}
	rest := name
	if suffix, ok := strings.CutPrefix(name, "*."); ok {
		if suffix == "" {
			return fmt.Errorf("a wildcard needs a domain after \"*.\"")
		}
		rest = suffix
	}
	for _, label := range strings.Split(rest, ".") {
		if err := checkLabel(label); err != nil {
			return err
		}
	}
	return nil
}

// checkLabel accepts one label: 1 to 63 of a-z 0-9 '-' '_' (lowercased
// already).
func checkLabel(label string) error {
	if label == "" {
		return fmt.Errorf("empty label (leading, trailing or double dot)")
	}
	if len(label) > 63 {
		return fmt.Errorf("label %q is longer than 63 bytes", label)
	}
	for _, r := range label {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
		case r == '*':
			return fmt.Errorf("'*' is only allowed as the whole first label, as in \"*.servers.example\"")
		default:
			return fmt.Errorf("character %q is not allowed (use a-z, 0-9, '-', '_', '.')", r)
		}
	}
	return nil
}

// permits reports whether one of cert's DNS SANs, or its subject common
// name, is on the list. The common name counts because older tooling puts
// the host name only there.
func (l *allowList) permits(cert *x509.Certificate) bool {
	if l == nil {
		return true
	}
	for _, n := range cert.DNSNames {
		if l.matches(n) {
			return true
		}
	}
	return cert.Subject.CommonName != "" && l.matches(cert.Subject.CommonName)
}

// matches compares one certificate name, case-insensitively.
func (l *allowList) matches(certName string) bool {
	name := strings.ToLower(certName)
	if _, ok := l.exact[name]; ok {
		return true
	}
	for _, suffix := range l.suffixes {
		label, ok := strings.CutSuffix(name, suffix)
		if ok && label != "" && !strings.Contains(label, ".") {
			return true
		}
	}
	return false
}

// check is permits as an error that names the peer, the names it carries
// and the list, so a refused handshake explains itself in the logs.
func (l *allowList) check(cert *x509.Certificate) error {
	if l.permits(cert) {
		return nil
	}
	return fmt.Errorf("peer %q (DNS names %s): %w (allowed: %s)", cert.Subject.CommonName,
		strings.Join(cert.DNSNames, ", "), ErrNameNotAllowed, strings.Join(l.entries, ", "))
}
