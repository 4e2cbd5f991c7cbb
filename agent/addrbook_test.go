package agent

import (
	"testing"

	"github.com/clusteragent/agent/discovery"
)

func TestTrustedRaftAddr(t *testing.T) {
	server := func(status discovery.Status, cluster string) discovery.Member {
		return discovery.Member{ID: "n3", Status: status, Meta: discovery.Meta{
			ID: "n3", ClusterID: cluster, RaftAddr: "127.0.0.3:7000", Role: discovery.RoleServer}}
	}
	client := server(discovery.StatusAlive, "c1")
	client.Meta.Role = discovery.RoleClient
	forged := server(discovery.StatusAlive, "c1")
	forged.Meta.ID = "n4"
	cases := map[string]struct {
		m      discovery.Member
		found  bool
		local  string
		wantOK bool
	}{
		"alive, same cluster":          {m: server(discovery.StatusAlive, "c1"), found: true, local: "c1", wantOK: true},
		"suspect, same cluster":        {m: server(discovery.StatusSuspect, "c1"), found: true, local: "c1", wantOK: true},
		"unknown":                      {local: "c1"},
		"dead":                         {m: server(discovery.StatusDead, "c1"), found: true, local: "c1"},
		"left":                         {m: server(discovery.StatusLeft, "c1"), found: true, local: "c1"},
		"other cluster":                {m: server(discovery.StatusAlive, "c2"), found: true, local: "c1"},
		"fresh node claims a known ID": {m: server(discovery.StatusAlive, ""), found: true, local: "c1"},
		"this node has no cluster yet": {m: server(discovery.StatusAlive, "c1"), found: true, local: ""},
		"client":                       {m: client, found: true, local: "c1"},
		"metadata for another ID":      {m: forged, found: true, local: "c1"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			addr, ok := trustedRaftAddr(tc.m, tc.found, tc.local)
			if ok != tc.wantOK || (ok && addr != "127.0.0.3:7000") {
				t.Errorf("trustedRaftAddr = %q, %v; want ok %v", addr, ok, tc.wantOK)
			}
		})
	}
}
