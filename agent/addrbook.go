package agent

import (
	"sync/atomic"

	"github.com/clusteragent/agent/discovery"
)

// addrBook answers raft's "where is server ID now?" from this node's gossip
// view, so Raft follows a server to a new address as soon as gossip has
// admitted it there: before any leader rewrote the configuration, and with
// no leader at all (every server of a full restart moved). Raft calls it on
// its RPC goroutines; it only reads the gossip member table.
type addrBook struct {
	gossip    atomic.Pointer[discovery.Gossip] // nil until gossip starts
	clusterID func() string
}

// raftAddr implements raftnode.Options.AddressOf: ok false sends raft to
// the configuration's address.
func (b *addrBook) raftAddr(id string) (string, bool) {
	g := b.gossip.Load()
	if g == nil {
		return "", false
	}
	m, found := g.MemberFast(id)
	return trustedRaftAddr(m, found, b.clusterID())
}

// trustedRaftAddr decides whether gossip's word on where a server's Raft
// listener is can be trusted. Only a live server whose metadata passed
// gossip admission (its cluster ID is checked on every alive message) and
// that carries this node's cluster ID counts: a fresh node (no cluster ID)
// claiming a known ID gets no traffic until the leader verified it (see
// verifyServer). The dial that follows is mutual TLS when TLS is on, with
// tls.server_names enforced, so a wrong certificate at that address is
// refused there too.
func trustedRaftAddr(m discovery.Member, found bool, localCluster string) (string, bool) {
	if !found || m.Meta.Role != discovery.RoleServer || m.Meta.RaftAddr == "" || m.Meta.ID != m.ID {
		return "", false
	}
	if m.Status != discovery.StatusAlive && m.Status != discovery.StatusSuspect {
		return "", false
	}
	if localCluster == "" || m.Meta.ClusterID != localCluster {
		return "", false
	}
	return m.Meta.RaftAddr, true
}
