package freeport

import (
	"net"
	"testing"
)

func TestPortsAreFreeDistinctAndAvoidTaken(t *testing.T) {
	first, err := Ports(5, nil)
	if err != nil {
		t.Fatal(err)
	}
	taken := map[int]bool{}
	for _, p := range first {
		if taken[p] {
			t.Fatalf("port %d returned twice in %v", p, first)
		}
		taken[p] = true
		ln, err := net.Listen("tcp", HostPort(p))
		if err != nil {
			t.Fatalf("port %d is not free for TCP: %v", p, err)
		}
		ln.Close()
	}
	lo, hi := candidateRange()
	for range 20 {
		more, err := Ports(5, taken)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range more {
			if taken[p] {
				t.Fatalf("port %d was in taken", p)
			}
			if p < lo || p >= hi {
				t.Fatalf("port %d outside [%d, %d)", p, lo, hi)
			}
		}
	}
}
