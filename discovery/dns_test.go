package discovery

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusteragent/agent/internal/testutil"
)

// dnsServer is a DNS server on 127.0.0.1 whose records a test changes
// while the code under test queries it. A name with no records at all is
// NXDOMAIN, as a Kubernetes headless service with no ready pod is.
type dnsServer struct {
	addr     string
	mu       sync.Mutex
	a        map[string][]string // fully qualified name -> IPs
	srv      map[string][]*net.SRV
	servfail map[string]bool
}

func startDNS(t *testing.T) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &dnsServer{addr: pc.LocalAddr().String(), a: map[string][]string{}, srv: map[string][]*net.SRV{}, servfail: map[string]bool{}}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: d, NotifyStartedFunc: func() { close(started) }}
	done := make(chan error, 1)
	go func() { done <- srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
	return d
}

// resolver sends every query to this server, whatever /etc/resolv.conf says.
func (d *dnsServer) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", d.addr)
	}}
}

func (d *dnsServer) setA(name string, ips ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.a[dns.Fqdn(name)] = ips
}

func (d *dnsServer) setSRV(name string, recs ...*net.SRV) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.srv[dns.Fqdn(name)] = recs
}

func (d *dnsServer) setServfail(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.servfail[dns.Fqdn(name)] = true
}

// ServeDNS implements dns.Handler.
func (d *dnsServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	defer func() { _ = w.WriteMsg(m) }()
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET}
	d.mu.Lock()
	defer d.mu.Unlock()
	ips, hasA := d.a[name]
	recs, hasSRV := d.srv[name]
	switch {
	case d.servfail[name]:
		m.Rcode = dns.RcodeServerFailure
	case !hasA && !hasSRV:
		m.Rcode = dns.RcodeNameError
	case q.Qtype == dns.TypeA || q.Qtype == dns.TypeAAAA:
		for _, s := range ips {
			ip := net.ParseIP(s)
			if v4 := ip.To4(); v4 != nil && q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: v4})
			} else if v4 == nil && q.Qtype == dns.TypeAAAA {
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip})
			}
		}
	case q.Qtype == dns.TypeSRV:
		for _, r := range recs {
			m.Answer = append(m.Answer, &dns.SRV{Hdr: hdr, Priority: r.Priority, Weight: r.Weight, Port: r.Port, Target: dns.Fqdn(r.Target)})
		}
	}
}

// resolveFailures reads gossip_join_resolve_failures_total from reg.
func resolveFailures(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "gossip_join_resolve_failures_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("gossip_join_resolve_failures_total is not registered")
	return 0
}

// TestResolveFollowsDNSServer resolves A and SRV seeds through a real DNS
// server, and again after the records changed.
func TestResolveFollowsDNSServer(t *testing.T) {
	d := startDNS(t)
	d.setA("seeds.agent.test", "127.0.0.2", "10.0.0.9")
	d.setA("n1.agent.test", "127.0.0.4")
	d.setA("n2.agent.test", "127.0.0.5", "::1")
	d.setSRV("_agent._tcp.agent.test", &net.SRV{Target: "n1.agent.test", Port: 8001}, &net.SRV{Target: "n2.agent.test", Port: 8002})
	g := resolveOnly(d.resolver(), "10.0.0.9", 7000)
	ctx := context.Background()
	addrs, errs := g.resolve(ctx, []string{"seeds.agent.test.", "srv+_agent._tcp.agent.test."})
	slices.Sort(addrs)
	want := []string{"127.0.0.2:7000", "127.0.0.4:8001", "127.0.0.5:8002", "[::1]:8002"} // 10.0.0.9:7000 is this node
	if !slices.Equal(addrs, want) || len(errs) != 0 {
		t.Fatalf("resolve = %v, %v; want %v", addrs, errs, want)
	}
	d.setA("seeds.agent.test", "127.0.0.6")
	d.setSRV("_agent._tcp.agent.test", &net.SRV{Target: "n1.agent.test", Port: 8003})
	addrs, errs = g.resolve(ctx, []string{"seeds.agent.test.", "srv+_agent._tcp.agent.test."})
	want = []string{"127.0.0.6:7000", "127.0.0.4:8003"}
	if !slices.Equal(addrs, want) || len(errs) != 0 {
		t.Fatalf("after the change: resolve = %v, %v; want %v", addrs, errs, want)
	}
}

// TestJoinWhenSRVRecordsAppear starts a node whose only seed is an SRV name
// with no records: it keeps retrying (counting the failures) and joins once
// the records appear, the seed being reachable only through DNS.
func TestJoinWhenSRVRecordsAppear(t *testing.T) {
	d := startDNS(t)
	c := newCluster(t)
	a := c.start(c.config("a"))
	reg := prometheus.NewRegistry()
	b := c.start(c.config("b", seeds("srv+_agent._tcp.pool.agent.test."), func(cfg *Config) {
		cfg.Resolver, cfg.Registerer = d.resolver(), reg
	}))
	testutil.WaitFor(t, waitTimeout, func() error {
		if n := resolveFailures(t, reg); n < 3 {
			return fmt.Errorf("%v resolve failures counted, want 3", n)
		}
		return nil
	})
	if b.Joined() {
		t.Fatal("b joined with no SRV records")
	}
	_, port, _ := net.SplitHostPort(a.Addr())
	p, _ := strconv.Atoi(port)
	d.setA("a.agent.test", "127.0.0.1")
	d.setSRV("_agent._tcp.pool.agent.test", &net.SRV{Target: "a.agent.test", Port: uint16(p)})
	waitStatuses(t, allAlive(a, b), a, b)
}

// TestJoinFollowsChangedARecords points a seed name at an address where no
// node listens, then at a live node: the joiner follows the change.
func TestJoinFollowsChangedARecords(t *testing.T) {
	d := startDNS(t)
	c := newCluster(t)
	a := c.start(c.config("a"))
	_, port, _ := net.SplitHostPort(a.Addr())
	d.setA("seeds.agent.test", "127.0.0.2") // a listens on 127.0.0.1 only
	b := c.start(c.config("b", seeds("seeds.agent.test.:"+port), func(cfg *Config) { cfg.Resolver = d.resolver() }))
	testutil.WaitFor(t, waitTimeout, func() error {
		if n := b.joinAttempts.Load(); n < 3 {
			return fmt.Errorf("%d join attempts, want 3", n)
		}
		return nil
	})
	if b.Joined() {
		t.Fatal("b joined through an address where nothing listens")
	}
	d.setA("seeds.agent.test", "127.0.0.1")
	waitStatuses(t, allAlive(a, b), a, b)
}

// TestResolveServfailCountedAndLoggedOnce checks that a failing DNS server
// is counted at every attempt but logged once while the error is the same.
func TestResolveServfailCountedAndLoggedOnce(t *testing.T) {
	d := startDNS(t)
	d.setServfail("broken.agent.test")
	c := newCluster(t)
	reg := prometheus.NewRegistry()
	b := c.start(c.config("b", seeds("broken.agent.test.", "srv+_agent._tcp.broken.agent.test."), func(cfg *Config) {
		cfg.Resolver, cfg.Registerer = d.resolver(), reg
	}))
	testutil.WaitFor(t, waitTimeout, func() error {
		if n := resolveFailures(t, reg); n < 6 {
			return fmt.Errorf("%v resolve failures counted, want 6", n)
		}
		return nil
	})
	if b.Joined() {
		t.Fatal("b joined with a failing DNS server")
	}
	warns := 0
	for _, line := range strings.Split(c.logs.String(), "\n") {
		if strings.Contains(line, "[WARN]") && strings.Contains(line, "could not resolve seed names") {
			warns++
		}
	}
	if warns != 1 {
		t.Errorf("%d warnings about the failing names, want 1 (then one a minute)", warns)
	}
}
