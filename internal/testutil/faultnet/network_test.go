package faultnet

import (
	"errors"
	"math"
	"testing"
)

func TestInvalidArguments(t *testing.T) {
	n := NewNetwork(1)
	defer n.Close()
	cases := map[string]error{
		"empty register node":  n.Register("", "127.0.0.1:1"),
		"bad address":          n.Register("a", "no-port"),
		"bad port":             n.Register("a", "127.0.0.1:99999"),
		"node in two groups":   n.Partition([]string{"a"}, []string{"a", "b"}),
		"empty group member":   n.Partition([]string{""}),
		"cut to self":          n.Cut("a", "a"),
		"cut empty":            n.Cut("", "b"),
		"negative delay":       n.SetDelay("a", "b", -1),
		"delay empty node":     n.SetDelay("a", "", 1),
		"loss above one":       n.SetLoss("a", "b", 1.5),
		"loss negative":        n.SetLoss("a", "b", -0.1),
		"loss NaN":             n.SetLoss("a", "b", math.NaN()),
		"address of two nodes": registerTwice(n),
	}
	for name, err := range cases {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
}

func registerTwice(n *Network) error {
	if err := n.Register("x", "127.0.0.1:7"); err != nil {
		return err
	}
	return n.Register("y", "127.0.0.1:7")
}

func TestRegisterCanonicalises(t *testing.T) {
	n := NewNetwork(1)
	defer n.Close()
	if err := n.Register("a", "[::ffff:127.0.0.1]:0080"); err != nil {
		t.Fatal(err)
	}
	if got := n.nodeOf("127.0.0.1:80"); got != "a" {
		t.Fatalf("nodeOf(127.0.0.1:80) = %q, want a", got)
	}
}

func TestPartitionReplacesAndKeepsCuts(t *testing.T) {
	n := NewNetwork(1)
	defer n.Close()
	must(t, n.Partition([]string{"a"}, []string{"b"}))
	must(t, n.Cut("c", "a"))
	must(t, n.Partition([]string{"a", "b"}, []string{"c"}))
	checks := []struct {
		from, to string
		want     bool
	}{
		{"a", "b", false}, {"b", "a", false},
		{"a", "c", true}, {"c", "b", true},
		{"a", "d", false}, {"d", "c", false}, // d is in no group
	}
	for _, c := range checks {
		if got := n.Blocked(c.from, c.to); got != c.want {
			t.Errorf("Blocked(%s, %s) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
	must(t, n.Partition())
	if !n.Blocked("c", "a") || n.Blocked("a", "c") {
		t.Fatal("the cut c -> a should outlive the partition, and only one way")
	}
	n.Heal()
	if n.Blocked("c", "a") {
		t.Fatal("Heal left the cut c -> a")
	}
}

func TestLossDeterministicPerSeed(t *testing.T) {
	run := func(seed int64) []bool {
		n := NewNetwork(seed)
		defer n.Close()
		must(t, n.SetLoss("a", "b", 0.5))
		must(t, n.SetLoss("a", "c", 0.5))
		out := make([]bool, 0, 200)
		for i := 0; i < 100; i++ {
			out = append(out, n.dropPacket("a", "b", true))
			if i%3 == 0 { // traffic on another link must not shift a -> b
				n.dropPacket("a", "c", true)
			}
		}
		return out
	}
	one, again, other := run(7), run(7), run(8)
	same, diff := true, false
	for i := range one {
		same = same && one[i] == again[i]
		diff = diff || one[i] != other[i]
	}
	if !same {
		t.Fatal("the same seed gave different drop sequences")
	}
	if !diff {
		t.Fatal("different seeds gave the same 100 drops")
	}
	// Independence from other links: a -> b alone gives the same sequence.
	n := NewNetwork(7)
	defer n.Close()
	must(t, n.SetLoss("a", "b", 0.5))
	for i := range one {
		if n.dropPacket("a", "b", true) != one[i] {
			t.Fatalf("drop %d of a -> b depends on traffic on a -> c", i)
		}
	}
}

func FuzzCanonicalAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:80", "[::1]:7000", "[::ffff:10.0.0.1]:07", "host:http", ":1", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := canonicalAddr(s)
		if err != nil {
			return
		}
		again, err := canonicalAddr(c)
		if err != nil || again != c {
			t.Fatalf("canonicalAddr(%q) = %q, which canonicalises to %q, %v", s, c, again, err)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
