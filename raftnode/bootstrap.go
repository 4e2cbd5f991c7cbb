package raftnode

import (
	"fmt"
	"net"
	"sort"

	"github.com/hashicorp/raft"
)

// planBootstrap decides, without side effects, whether this node bootstraps
// and with which voters. The rules, in order:
//
//   - Existing Raft state: never. Bootstrapping over state could fork the
//     log into a second cluster; a node with state rejoins through its log.
//   - JoinOnly: never; the node waits to be added by a leader.
//   - BootstrapPreferred: this node, plus Peers if given.
//   - No Peers: never; the caller may call Bootstrap later (for example once
//     gossip has seen bootstrap-expect servers).
//   - Peers that do not name this node: never. Such a node is joining an
//     existing set, and letting it bootstrap the others could start a second
//     cluster beside theirs.
//   - Peers == {self}: bootstrap alone.
//   - Several peers: only the lowest ID (byte-wise string order) bootstraps,
//     with every peer as a voter; the others wait for its AppendEntries.
//     Exactly one node decides, so two bootstraps can never race. A wiped
//     node is just a node without state: if it is the lowest ID it would
//     bootstrap again, which is why a wiped server must be given -no-bootstrap
//     (JoinOnly) or no peers, and re-added by the running cluster.
//
// selfAddr replaces any address Peers gives for this node: it is the address
// the transport actually advertises.
func planBootstrap(o *Options, selfAddr string, hasState bool) ([]raft.Server, string) {
	switch {
	case hasState:
		return nil, "existing raft state"
	case o.JoinOnly:
		return nil, "join-only: waiting to be added"
	}
	set := make(map[string]string, len(o.Peers)+1)
	for id, a := range o.Peers {
		set[id] = a
	}
	_, listed := set[o.NodeID]
	set[o.NodeID] = selfAddr
	switch {
	case o.BootstrapPreferred:
		return voters(set), "bootstrap preferred"
	case len(o.Peers) == 0:
		return nil, "no peers: waiting to be added or bootstrapped"
	case !listed:
		return nil, "static peers do not include this node: waiting to be added"
	case len(set) == 1:
		return voters(set), "peer set is only this node"
	}
	lowest := o.NodeID
	for id := range set {
		if id < lowest {
			lowest = id
		}
	}
	if lowest != o.NodeID {
		return nil, fmt.Sprintf("static peers: %s (lowest ID) bootstraps", lowest)
	}
	return voters(set), "static peers: this node has the lowest ID"
}

// voters turns an id->address set into voters sorted by ID, so the
// bootstrap configuration is deterministic.
func voters(set map[string]string) []raft.Server {
	out := make([]raft.Server, 0, len(set))
	for id, a := range set {
		out = append(out, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(id), Address: raft.ServerAddress(a)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// bootstrapServers validates servers given to Bootstrap and makes them all
// voters. It requires this node in the set: a node bootstrapping a
// configuration without itself could never take part in it.
func bootstrapServers(self string, servers []Server) ([]raft.Server, error) {
	if len(servers) == 0 {
		return nil, fmt.Errorf("%w: Bootstrap needs at least one server", ErrInvalidArgument)
	}
	ids := make(map[string]bool, len(servers))
	addrs := make(map[string]bool, len(servers))
	out := make([]raft.Server, 0, len(servers))
	for _, s := range servers {
		if err := validateServerID("server ID", s.ID); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
		}
		if _, _, err := net.SplitHostPort(s.Address); err != nil {
			return nil, fmt.Errorf("%w: server %s address %q: %v", ErrInvalidArgument, s.ID, s.Address, err)
		}
		if ids[s.ID] || addrs[s.Address] {
			return nil, fmt.Errorf("%w: server %s (%s) is listed twice", ErrInvalidArgument, s.ID, s.Address)
		}
		ids[s.ID], addrs[s.Address] = true, true
		out = append(out, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Address)})
	}
	if !ids[self] {
		return nil, fmt.Errorf("%w: Bootstrap servers must include this node (%s)", ErrInvalidArgument, self)
	}
	return out, nil
}
