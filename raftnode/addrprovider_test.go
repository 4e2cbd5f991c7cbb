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

// TestAddressProviderAnswersForItself: raft encodes this node's own address
// through the provider on every RPC, before any configuration or gossip
// view lists it; the provider must answer without falling back (raft warns
// on every fallback).
func TestAddressProviderAnswersForItself(t *testing.T) {
	p := &addressProvider{lookup: func(string) (string, bool) { return "", false }, self: "me", selfAddr: "127.0.0.1:7000"}
	if a, err := p.ServerAddr("me"); err != nil || a != "127.0.0.1:7000" {
		t.Fatalf("ServerAddr(self) = %q, %v", a, err)
	}
	if _, err := p.ServerAddr("other"); err == nil {
		t.Fatal("an unknown server got an address")
	}
}
