package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"
)

func TestParseSeed(t *testing.T) {
	cases := map[string]struct {
		in   string
		host string
		port int
		bad  bool
	}{
		"ip":          {in: "10.0.0.1", host: "10.0.0.1", port: 7946},
		"ip port":     {in: "10.0.0.1:8000", host: "10.0.0.1", port: 8000},
		"ipv6":        {in: "::1", host: "::1", port: 7946},
		"ipv6 braces": {in: "[::1]", host: "::1", port: 7946},
		"ipv6 port":   {in: "[::1]:8000", host: "::1", port: 8000},
		"name":        {in: "seeds.example.com", host: "seeds.example.com", port: 7946},
		"name port":   {in: "localhost:1", host: "localhost", port: 1},
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
			host, port, err := parseSeed(tc.in, 7946)
			if tc.bad {
				if err == nil {
					t.Errorf("parseSeed(%q) = %s, %d; want an error", tc.in, host, port)
				}
				return
			}
			if err != nil || host != tc.host || port != tc.port {
				t.Errorf("parseSeed(%q) = %q, %d, %v; want %q, %d", tc.in, host, port, err, tc.host, tc.port)
			}
		})
	}
}

// TestResolveSeveralRecords checks that a name with several A records gives
// one seed per record, with the default port, without this node, and that
// lookups happen at every call (so DNS changes are followed).
func TestResolveSeveralRecords(t *testing.T) {
	records := []net.IP{net.ParseIP("10.0.0.1"), net.ParseIP("10.0.0.2"), net.ParseIP("10.0.0.3")}
	lookups := 0
	g := &Gossip{
		cfg:      Config{BindAddr: "10.0.0.3", BindPort: 7000},
		selfIP:   net.ParseIP("10.0.0.3"),
		selfPort: 7000,
		lookupIP: func(_ context.Context, host string) ([]net.IP, error) {
			lookups++
			if host != "seeds.internal" {
				return nil, errors.New("no such host")
			}
			return records, nil
		},
	}
	addrs, errs := g.resolve(context.Background(), []string{"seeds.internal", "10.0.0.1:7000", "missing.internal:1", "bad seed"})
	want := []string{"10.0.0.1:7000", "10.0.0.2:7000"} // port defaults to BindPort; self and duplicate dropped
	if !slices.Equal(addrs, want) {
		t.Errorf("addrs = %v, want %v", addrs, want)
	}
	if len(errs) != 2 {
		t.Errorf("errs = %v, want the unknown name and the bad seed", errs)
	}
	records = records[:1]
	addrs, _ = g.resolve(context.Background(), []string{"seeds.internal"})
	if !slices.Equal(addrs, []string{"10.0.0.1:7000"}) || lookups != 3 {
		t.Errorf("after DNS change: addrs = %v, lookups = %d", addrs, lookups)
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
