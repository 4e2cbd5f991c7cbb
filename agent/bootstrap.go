package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/discovery"
	"github.com/clusteragent/agent/internal/clock"
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
	b := &bootstrapper{
		self: a.NodeID(), mode: a.cfg.bootstrapMode(), expect: a.cfg.BootstrapExpect, peers: a.cfg.Peers,
		raft: a.raft, members: a.gossip, stats: a.peers, clusterID: a.ClusterID,
		clock: a.clock, interval: a.reconcileInterval(), logger: a.logger,
	}
	_ = b.Run(ctx) // ends once settled, or with the agent
}

// bootstrapRaft is the part of the Raft node the bootstrapper uses.
type bootstrapRaft interface {
	HasState() bool
	Bootstrap(voters []raftnode.Server) error
	Addr() string
}

// peerStatter asks a server at its Raft address about itself.
type peerStatter interface {
	Stats(ctx context.Context, raftAddr string) (httpapi.ServerStats, error)
}

// memberLister lists the gossip members.
type memberLister interface {
	Members() []discovery.Member
}

// bootstrapper is the duty that bootstraps Raft once, in the configured
// mode, and never over a cluster that exists here or on a peer.
type bootstrapper struct {
	self      string
	mode      bootstrapMode
	expect    int
	peers     map[string]string
	raft      bootstrapRaft
	members   memberLister
	stats     peerStatter
	clusterID func() string
	clock     clock.Clock
	interval  time.Duration
	logger    hclog.Logger
}

// Run tries to bootstrap on every tick until this node has Raft state or a
// cluster ID (nil), or ctx ends (ctx.Err()).
func (b *bootstrapper) Run(ctx context.Context) error {
	ticker := b.clock.NewTicker(b.interval)
	defer ticker.Stop()
	lastLog := time.Time{}
	for {
		if b.raft.HasState() || b.clusterID() != "" {
			return nil
		}
		err := b.tryBootstrap(ctx)
		switch {
		case errors.Is(err, errBootstrapSettled):
			return nil
		case err != nil && b.clock.Now().Sub(lastLog) > 10*time.Second:
			b.logger.Info("waiting to bootstrap", "reason", err.Error())
			lastLog = b.clock.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C():
		}
	}
}

func (b *bootstrapper) tryBootstrap(ctx context.Context) error {
	var voters []raftnode.Server
	var err error
	switch b.mode {
	case bootstrapExpect:
		voters, err = b.expectVoters(ctx)
	case bootstrapStatic:
		voters, err = b.staticVoters(ctx, false)
	case bootstrapPreferred:
		voters, err = b.staticVoters(ctx, true)
	default:
		return errBootstrapSettled
	}
	if err != nil {
		return err
	}
	if err := b.raft.Bootstrap(voters); err != nil {
		if errors.Is(err, raftnode.ErrExistingState) {
			return errBootstrapSettled
		}
		return fmt.Errorf("bootstrap failed: %w", err)
	}
	ids := make([]string, len(voters))
	for i, v := range voters {
		ids[i] = v.ID
	}
	b.logger.Info("bootstrapped cluster", "voters", ids)
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
func (b *bootstrapper) expectVoters(ctx context.Context) ([]raftnode.Server, error) {
	servers, err := b.freshGossipServers()
	if err != nil {
		return nil, err
	}
	voters, err := planExpect(b.self, servers, b.expect)
	if err != nil {
		return nil, err
	}
	for _, v := range voters {
		if v.ID != b.self {
			if err := b.checkPeerFresh(ctx, v.ID, v.Address, true); err != nil {
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
func (b *bootstrapper) staticVoters(ctx context.Context, preferred bool) ([]raftnode.Server, error) {
	if _, err := b.freshGossipServers(); err != nil {
		return nil, err
	}
	voters, err := planStatic(b.self, b.raft.Addr(), b.peers, preferred)
	if err != nil {
		return nil, err
	}
	for _, v := range voters {
		if v.ID == b.self {
			continue
		}
		if err := b.checkPeerFresh(ctx, v.ID, v.Address, false); err != nil && !preferred {
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
func (b *bootstrapper) freshGossipServers() ([]discovery.Member, error) {
	out, settled := freshServers(b.self, b.members.Members())
	if settled != nil {
		b.logger.Info("found a server that already belongs to a cluster; waiting to be added", "id", settled.ID, "cluster_id", settled.Meta.ClusterID)
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
func (b *bootstrapper) checkPeerFresh(ctx context.Context, id, raftAddr string, checkLower bool) error {
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := b.stats.Stats(qctx, raftAddr)
	if err != nil {
		return fmt.Errorf("asking %s at %s: %w", id, raftAddr, err)
	}
	if st.NodeID != id {
		return fmt.Errorf("%s answers as node %q, not %q", raftAddr, st.NodeID, id)
	}
	if st.HasState || st.ClusterID != "" {
		b.logger.Info("peer already has raft state; waiting to be added", "id", id, "cluster_id", st.ClusterID)
		return errBootstrapSettled
	}
	if checkLower {
		for _, other := range st.ServerIDs {
			if other < b.self {
				return fmt.Errorf("peer %s sees server %s with a lower ID", id, other)
			}
		}
	}
	return nil
}
