package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// resolveTimeout bounds one DNS lookup of a seed name.
const resolveTimeout = 5 * time.Second

// SRVPrefix marks a seed that is a DNS SRV name: "srv+_agent._tcp.example"
// joins the target:port of every SRV record of that name. A prefix rather
// than a URL scheme keeps the value a plain host-like string (it is not a
// URL: there is no path or query), and it cannot collide with a host name,
// which never contains '+'.
const SRVPrefix = "srv+"

// Resolver looks up the names in Config.Seeds. *net.Resolver implements it
// (net.DefaultResolver is the default); tests inject one whose Dial reaches
// their own DNS server.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupSRV(ctx context.Context, service, proto, name string) (cname string, addrs []*net.SRV, err error)
}

// seed is one parsed entry of Config.Seeds.
type seed struct {
	host string // an IP, a DNS name, or with srv the SRV name
	port int    // unused with srv: each record carries its own
	srv  bool
}

// endpoint is one address a seed resolved to.
type endpoint struct {
	ip   net.IP
	port int
}

// ValidateSeed reports whether s is a valid seed: an IP, a DNS name, either
// with ":port", or SRVPrefix followed by a DNS name. Nothing is looked up.
func ValidateSeed(s string) error {
	_, err := parseSeed(s, DefaultPort)
	return err
}

// parseSeed splits a seed into host and port. A seed is an IP, a DNS name,
// or either with ":port" (IPv6 literals with a port need brackets), or
// SRVPrefix and a DNS name.
func parseSeed(s string, defaultPort int) (seed, error) {
	if s == "" {
		return seed{}, errors.New("is empty")
	}
	if name, ok := strings.CutPrefix(s, SRVPrefix); ok {
		if strings.Contains(name, ":") {
			return seed{}, fmt.Errorf("%q: an SRV seed takes its ports from the SRV records; drop the :port", s)
		}
		if net.ParseIP(name) != nil || !validHostname(name) {
			return seed{}, fmt.Errorf("%q: %q is not a DNS name", s, name)
		}
		return seed{host: name, srv: true}, nil
	}
	if ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); ip != nil {
		return seed{host: ip.String(), port: defaultPort}, nil
	}
	host, port := s, defaultPort
	if strings.Contains(s, ":") {
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return seed{}, fmt.Errorf("%q is not host, host:port, an IP or %sname: %v", s, SRVPrefix, err)
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return seed{}, fmt.Errorf("%q has an invalid port %q (want 1-65535)", s, p)
		}
		host, port = h, n
	}
	if net.ParseIP(host) != nil {
		return seed{host: host, port: port}, nil
	}
	if !validHostname(host) {
		return seed{}, fmt.Errorf("%q: host %q is neither an IP address nor a DNS name", s, host)
	}
	return seed{host: host, port: port}, nil
}

// validHostname accepts DNS names (letters, digits, '-', '_', dots), with
// or without the trailing dot of a fully qualified name.
func validHostname(h string) bool {
	if h == "" || len(h) > 254 || strings.HasPrefix(h, ".") || strings.Contains(h, "..") {
		return false
	}
	for _, r := range h {
		ok := r == '.' || r == '-' || r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}

// lookupSeed returns the endpoints of one seed, asking DNS every time (no
// cache), so records that change between attempts are followed. A name that
// resolves to nothing is an error like a failed lookup: both mean "retry".
func lookupSeed(ctx context.Context, r Resolver, s seed) ([]endpoint, error) {
	if ip := net.ParseIP(s.host); ip != nil {
		return []endpoint{{ip: ip, port: s.port}}, nil
	}
	if !s.srv {
		ips, err := lookupIPs(ctx, r, s.host)
		if err != nil {
			return nil, fmt.Errorf("resolve seed %q: %w", s.host, err)
		}
		eps := make([]endpoint, len(ips))
		for i, ip := range ips {
			eps[i] = endpoint{ip: ip, port: s.port}
		}
		return eps, nil
	}
	lctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	_, recs, err := r.LookupSRV(lctx, "", "", s.host)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("resolve SRV seed %q: %w", s.host, err)
	}
	var eps []endpoint
	var errs []error
	for _, rec := range recs {
		if rec.Port == 0 || rec.Target == "" || rec.Target == "." {
			continue // "." is DNS for "no such service here"
		}
		ips, err := lookupIPs(ctx, r, rec.Target)
		if err != nil {
			errs = append(errs, fmt.Errorf("target %q: %w", rec.Target, err))
			continue
		}
		for _, ip := range ips {
			eps = append(eps, endpoint{ip: ip, port: int(rec.Port)})
		}
	}
	if len(eps) == 0 {
		errs = append(errs, errors.New("no usable SRV records"))
		return nil, fmt.Errorf("resolve SRV seed %q: %w", s.host, errors.Join(errs...))
	}
	return eps, nil
}

// lookupIPs resolves a name to its A and AAAA records; no records is an
// error.
func lookupIPs(ctx context.Context, r Resolver, host string) ([]net.IP, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []net.IP{ip}, nil
	}
	lctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := r.LookupIPAddr(lctx, host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, errors.New("no A or AAAA records")
	}
	ips := make([]net.IP, len(addrs))
	for i, a := range addrs {
		ips[i] = a.IP
	}
	return ips, nil
}

// resolve turns seeds into ip:port addresses. Names are looked up now, so a
// DNS record listing the current seeds is followed as it changes, and a name
// with several records gives several addresses. This node's own address is
// left out: a self-join proves nothing. Every path that joins (the first
// join, the rejoin loop, Join) comes through here, so every failed lookup is
// counted in gossip_join_resolve_failures_total and logged at a readable
// rate.
func (g *Gossip) resolve(ctx context.Context, seeds []string) (addrs []string, errs []error) {
	seen := make(map[string]bool)
	var lookupErrs []error
	for _, s := range seeds {
		sd, err := parseSeed(s, g.cfg.seedPort())
		if err != nil {
			errs = append(errs, fmt.Errorf("seed %w", err))
			continue
		}
		eps, err := lookupSeed(ctx, g.resolver, sd)
		if err != nil {
			if ctx.Err() != nil {
				continue // shutting down: not a DNS failure
			}
			lookupErrs = append(lookupErrs, err)
			continue
		}
		for _, ep := range eps {
			addr := net.JoinHostPort(ep.ip.String(), strconv.Itoa(ep.port))
			if seen[addr] || g.isSelf(ep.ip, ep.port) {
				continue
			}
			seen[addr] = true
			addrs = append(addrs, addr)
		}
	}
	g.reportResolve(lookupErrs)
	return addrs, append(errs, lookupErrs...)
}

// reportResolve counts and logs failed seed lookups, and logs once when
// they all succeed again.
func (g *Gossip) reportResolve(errs []error) {
	if len(errs) == 0 {
		g.resolveLog.recovered("seed names resolve again")
		return
	}
	g.resolveFailures.Add(uint64(len(errs)))
	err := errors.Join(errs...)
	g.resolveLog.failure(err.Error(), "could not resolve seed names; retrying with backoff", "error", err)
}
