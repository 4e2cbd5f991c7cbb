package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/clusteragent/agent/discovery"
	"github.com/clusteragent/agent/raftnode"
)

// errBootstrapSettled ends the bootstrap loop: a cluster exists (here or on
// a peer), so this node waits to be added instead.
var errBootstrapSettled = errors.New("bootstrap settled")

// bootstrapMode is how (and whether) this agent may bootstrap Raft.
type bootstrapMode int

const (
	bootstrapNever     bootstrapMode = iota // join-only: wait to be added
	bootstrapExpect                         // bootstrap_expect = N
	bootstrapStatic                         // static peers: the lowest ID bootstraps them all
	bootstrapPreferred                      // this node bootstraps (with the static peers if given)
)

func (c *Config) bootstrapMode() bootstrapMode {
	switch {
	case !c.Server || c.NoBootstrap:
		return bootstrapNever
	case c.BootstrapExpect > 0:
		return bootstrapExpect
	case c.BootstrapPreferred:
		return bootstrapPreferred
	case len(c.Peers) > 0:
		return bootstrapStatic
	}
	return bootstrapNever // only -join (or nothing): never bootstraps
}

// runBootstrap is the agent's only path to bootstrapping Raft (raftnode is
// always opened join-only), so every mode gets the same guard against the
// seed design's failure, re-bootstrap after a wipe: before bootstrapping,
// ask every peer whether it already has Raft state or a cluster, and back
// off if one does. A wiped node then simply waits; the leader, which still
// lists it, replicates the log back to it.
func (a *Agent) runBootstrap(ctx context.Context) {
	ticker := a.clock.NewTicker(a.reconcileInterval())
	defer ticker.Stop()
	lastLog := time.Time{}
	for {
		if a.raft.HasState() || a.ClusterID() != "" {
			return
		}
		err := a.tryBootstrap(ctx)
		switch {
		case errors.Is(err, errBootstrapSettled):
			return
		case err != nil && a.clock.Now().Sub(lastLog) > 10*time.Second:
			a.logger.Info("waiting to bootstrap", "reason", err.Error())
			lastLog = a.clock.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}
	}
}

func (a *Agent) tryBootstrap(ctx context.Context) error {
	var voters []raftnode.Server
	var err error
	switch a.cfg.bootstrapMode() {
	case bootstrapExpect:
		voters, err = a.expectVoters(ctx)
	case bootstrapStatic:
		voters, err = a.staticVoters(ctx, false)
	case bootstrapPreferred:
		voters, err = a.staticVoters(ctx, true)
	default:
		return errBootstrapSettled
	}
	if err != nil {
		return err
	}
	if err := a.raft.Bootstrap(voters); err != nil {
		if errors.Is(err, raftnode.ErrExistingState) {
			return errBootstrapSettled
		}
		return fmt.Errorf("bootstrap failed: %w", err)
	}
	ids := make([]string, len(voters))
	for i, v := range voters {
		ids[i] = v.ID
	}
	a.logger.Info("bootstrapped cluster", "voters", ids)
	return errBootstrapSettled
}

// expectVoters implements bootstrap_expect. Once N fresh servers are visible
// in gossip, the one with the lowest ID bootstraps with all of them as
// voters; the others wait and are part of that configuration.
//
// Why only one node bootstraps: if every node bootstrapped on its own view,
// two nodes seeing different sets (gossip not yet converged) would form two
// clusters. With a single bootstrapper, two clusters would need two nodes
// each believing itself lowest; before bootstrapping, the candidate asks
// every peer for its own view and backs off if any peer knows a lower ID.
func (a *Agent) expectVoters(ctx context.Context) ([]raftnode.Server, error) {
	servers, err := a.freshGossipServers()
	if err != nil {
		return nil, err
	}
	voters, err := planExpect(a.NodeID(), servers, a.cfg.BootstrapExpect)
	if err != nil {
		return nil, err
	}
	for _, v := range voters {
		if v.ID != a.NodeID() {
			if err := a.checkPeerFresh(ctx, v.ID, v.Address, true); err != nil {
				return nil, err
			}
		}
	}
	return voters, nil
}

// planExpect decides bootstrap_expect from the fresh alive servers, sorted
// by ID: the voters once expect of them are visible and this node has the
// lowest ID, else why not (yet).
func planExpect(self string, servers []discovery.Member, expect int) ([]raftnode.Server, error) {
	if len(servers) == 0 || len(servers) < expect {
		return nil, fmt.Errorf("%d of %d servers visible in gossip", len(servers), expect)
	}
	if servers[0].ID != self {
		return nil, fmt.Errorf("%s has the lowest ID and bootstraps", servers[0].ID)
	}
	voters := make([]raftnode.Server, 0, len(servers))
	for _, s := range servers {
		voters = append(voters, raftnode.Server{ID: s.ID, Address: s.Meta.RaftAddr, Suffrage: "voter"})
	}
	return voters, nil
}

// staticVoters implements static peers (the lowest ID bootstraps them all,
// once every peer answers that it is fresh) and bootstrap_preferred (this
// node bootstraps; peers that answer must be fresh, peers that do not are
// not waited for).
func (a *Agent) staticVoters(ctx context.Context, preferred bool) ([]raftnode.Server, error) {
	if _, err := a.freshGossipServers(); err != nil {
		return nil, err
	}
	voters, err := planStatic(a.NodeID(), a.raft.Addr(), a.cfg.Peers, preferred)
	if err != nil {
		return nil, err
	}
	for _, v := range voters {
		if v.ID == a.NodeID() {
			continue
		}
		if err := a.checkPeerFresh(ctx, v.ID, v.Address, false); err != nil && !preferred {
			return nil, err
		} else if errors.Is(err, errBootstrapSettled) {
			return nil, err
		}
	}
	return voters, nil
}

// planStatic decides the static peer set (this node included, sorted by
// ID): with preferred this node bootstraps it, otherwise only the lowest ID
// does.
func planStatic(self, selfAddr string, peers map[string]string, preferred bool) ([]raftnode.Server, error) {
	set := map[string]string{}
	for id, addr := range peers {
		set[id] = addr
	}
	set[self] = selfAddr
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if !preferred && ids[0] != self {
		return nil, fmt.Errorf("static peers: %s has the lowest ID and bootstraps", ids[0])
	}
	voters := make([]raftnode.Server, 0, len(ids))
	for _, id := range ids {
		voters = append(voters, raftnode.Server{ID: id, Address: set[id], Suffrage: "voter"})
	}
	return voters, nil
}

// freshGossipServers returns the alive servers sorted by ID, or
// errBootstrapSettled when one of them already belongs to a cluster.
func (a *Agent) freshGossipServers() ([]discovery.Member, error) {
	out, settled := freshServers(a.NodeID(), a.gossip.Members())
	if settled != nil {
		a.logger.Info("found a server that already belongs to a cluster; waiting to be added", "id", settled.ID, "cluster_id", settled.Meta.ClusterID)
		return nil, errBootstrapSettled
	}
	return out, nil
}

// freshServers returns the alive servers among members, sorted by ID, or
// the first other server that already belongs to a cluster (then nothing
// may bootstrap here).
func freshServers(self string, members []discovery.Member) ([]discovery.Member, *discovery.Member) {
	var out []discovery.Member
	for _, m := range members {
		if m.Meta.Role != discovery.RoleServer || m.Status != discovery.StatusAlive {
			continue
		}
		if m.ID != self && (m.Meta.ClusterID != "" || m.Meta.HasState) {
			return nil, &m
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// checkPeerFresh asks a peer directly (gossip metadata can lag) whether it
// has Raft state or a cluster (errBootstrapSettled) and, with checkLower,
// whether it sees a server with a lower ID than this node.
func (a *Agent) checkPeerFresh(ctx context.Context, id, raftAddr string, checkLower bool) error {
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := a.peers.Stats(qctx, raftAddr)
	if err != nil {
		return fmt.Errorf("asking %s at %s: %w", id, raftAddr, err)
	}
	if st.NodeID != id {
		return fmt.Errorf("%s answers as node %q, not %q", raftAddr, st.NodeID, id)
	}
	if st.HasState || st.ClusterID != "" {
		a.logger.Info("peer already has raft state; waiting to be added", "id", id, "cluster_id", st.ClusterID)
		return errBootstrapSettled
	}
	if checkLower {
		for _, other := range st.ServerIDs {
			if other < a.NodeID() {
				return fmt.Errorf("peer %s sees server %s with a lower ID", id, other)
			}
		}
	}
	return nil
}
