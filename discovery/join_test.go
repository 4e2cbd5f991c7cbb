package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clusteragent/agent/internal/clock"
)

func TestParseSeed(t *testing.T) {
	cases := map[string]struct {
		in   string
		want seed
		bad  bool
	}{
		"ip":          {in: "10.0.0.1", want: seed{host: "10.0.0.1", port: 7946}},
		"ip port":     {in: "10.0.0.1:8000", want: seed{host: "10.0.0.1", port: 8000}},
		"ipv6":        {in: "::1", want: seed{host: "::1", port: 7946}},
		"ipv6 braces": {in: "[::1]", want: seed{host: "::1", port: 7946}},
		"ipv6 port":   {in: "[::1]:8000", want: seed{host: "::1", port: 8000}},
		"name":        {in: "seeds.example.com", want: seed{host: "seeds.example.com", port: 7946}},
		"fqdn":        {in: "seeds.example.com.", want: seed{host: "seeds.example.com.", port: 7946}},
		"name port":   {in: "localhost:1", want: seed{host: "localhost", port: 1}},
		"srv":         {in: "srv+_agent._tcp.agents.default.svc.cluster.local", want: seed{host: "_agent._tcp.agents.default.svc.cluster.local", srv: true}},
		"srv port":    {in: "srv+_agent._tcp.example:7946", bad: true},
		"srv ip":      {in: "srv+10.0.0.1", bad: true},
		"srv empty":   {in: "srv+", bad: true},
		"empty":       {in: "", bad: true},
		"zero port":   {in: "a:0", bad: true},
		"big port":    {in: "a:65536", bad: true},
		"text port":   {in: "a:http", bad: true},
		"space":       {in: "a b", bad: true},
		"scheme":      {in: "tcp://a:1", bad: true},
		"double dot":  {in: "a..b", bad: true},
		"no host":     {in: ":80", bad: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := parseSeed(tc.in, 7946)
			if tc.bad {
				if err == nil {
					t.Errorf("parseSeed(%q) = %+v; want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("parseSeed(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

// fakeResolver answers from maps and counts lookups.
type fakeResolver struct {
	ips     map[string][]net.IP
	srv     map[string][]*net.SRV
	lookups int
}

func (f *fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	f.lookups++
	ips, ok := f.ips[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	out := make([]net.IPAddr, len(ips))
	for i, ip := range ips {
		out[i] = net.IPAddr{IP: ip}
	}
	return out, nil
}

func (f *fakeResolver) LookupSRV(_ context.Context, _, _, name string) (string, []*net.SRV, error) {
	f.lookups++
	recs, ok := f.srv[name]
	if !ok {
		return "", nil, errors.New("no such host")
	}
	return name, recs, nil
}

// resolveOnly is a Gossip with just what resolve needs.
func resolveOnly(r Resolver, self string, port int) *Gossip {
	return &Gossip{
		cfg:        Config{BindAddr: self, BindPort: port},
		selfIP:     net.ParseIP(self),
		selfPort:   port,
		resolver:   r,
		resolveLog: &rateLog{logger: hclog.NewNullLogger(), clock: clock.Real{}},
	}
}

// TestResolveSeveralRecords checks that a name with several A records gives
// one seed per record, with the default port, without this node, and that
// lookups happen at every call (so DNS changes are followed).
func TestResolveSeveralRecords(t *testing.T) {
	r := &fakeResolver{ips: map[string][]net.IP{
		"seeds.internal": {net.ParseIP("10.0.0.1"), net.ParseIP("10.0.0.2"), net.ParseIP("10.0.0.3")},
		"empty.internal": {},
		"n1.internal":    {net.ParseIP("10.0.1.1")},
	}, srv: map[string][]*net.SRV{
		"_agent._tcp.internal": {{Target: "n1.internal", Port: 8001}, {Target: "gone.internal", Port: 8002}, {Target: ".", Port: 1}},
	}}
	g := resolveOnly(r, "10.0.0.3", 7000)
	addrs, errs := g.resolve(context.Background(), []string{"seeds.internal", "10.0.0.1:7000", "missing.internal:1", "bad seed",
		"empty.internal", "srv+_agent._tcp.internal"})
	want := []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.1.1:8001"} // port defaults to BindPort; self and duplicate dropped
	if !slices.Equal(addrs, want) {
		t.Errorf("addrs = %v, want %v", addrs, want)
	}
	if len(errs) != 3 {
		t.Errorf("errs = %v, want the unknown name, the bad seed and the empty name", errs)
	}
	if got := g.resolveFailures.Load(); got != 2 {
		t.Errorf("resolve failures = %d, want 2 (the unknown and the empty name; a bad seed is no lookup)", got)
	}
	r.ips["seeds.internal"] = r.ips["seeds.internal"][:1]
	r.lookups = 0
	addrs, _ = g.resolve(context.Background(), []string{"seeds.internal"})
	if !slices.Equal(addrs, []string{"10.0.0.1:7000"}) || r.lookups != 1 {
		t.Errorf("after DNS change: addrs = %v, lookups = %d", addrs, r.lookups)
	}
}

func TestBackoffGrowsWithJitterWithinBounds(t *testing.T) {
	lo, hi := 100*time.Millisecond, time.Second
	for range 50 {
		b := newBackoff(lo, hi)
		ceiling := lo
		for i := range 10 {
			d := b.next()
			if d < ceiling/2 || d > ceiling {
				t.Fatalf("step %d: wait %v outside [%v, %v]", i, d, ceiling/2, ceiling)
			}
			ceiling = min(ceiling*2, hi)
		}
	}
}

func TestRejoinSamplesMissingMembers(t *testing.T) {
	var peers []rememberedPeer
	for i := range 10 {
		peers = append(peers, rememberedPeer{ID: fmt.Sprintf("n%d", i), Addr: fmt.Sprintf("127.0.0.1:%d", 7000+i)})
	}
	if got := sample(slices.Clone(peers[:2]), maxRejoinMissing); len(got) != 2 {
		t.Errorf("sample of 2 = %v, want both", got)
	}
	seen := map[string]bool{}
	for range 50 {
		got := sample(slices.Clone(peers), maxRejoinMissing)
		if len(got) != maxRejoinMissing {
			t.Fatalf("sample = %v, want %d peers", got, maxRejoinMissing)
		}
		ids := map[string]bool{}
		for _, p := range got {
			if ids[p.ID] || !slices.Contains(peers, p) {
				t.Fatalf("sample = %v: a duplicate or a peer not given", got)
			}
			ids[p.ID], seen[p.ID] = true, true
		}
	}
	// Random, not always the first ones: over 50 draws of 3 of 10, every
	// peer is drawn unless the shuffle is broken (odds of a miss about 2e-7).
	if len(seen) != len(peers) {
		t.Errorf("50 samples drew only %d of %d peers", len(seen), len(peers))
	}
}
