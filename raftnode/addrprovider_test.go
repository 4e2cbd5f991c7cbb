package raftnode

import (
	"errors"
	"testing"

	"github.com/hashicorp/raft"
)

func TestAddressProviderPrefersLookup(t *testing.T) {
	p := &addressProvider{lookup: func(id string) (string, bool) {
		if id == "moved" {
			return "127.0.0.9:7000", true
		}
		return "", false
	}}
	if a, err := p.ServerAddr("moved"); err != nil || a != "127.0.0.9:7000" {
		t.Errorf("ServerAddr(moved) = %q, %v", a, err)
	}
	// No raft yet, and the lookup does not know it: raft falls back.
	if _, err := p.ServerAddr("other"); !errors.Is(err, errNoAddress) {
		t.Errorf("ServerAddr(other) err = %v, want errNoAddress", err)
	}
	var _ raft.ServerAddressProvider = p
}
