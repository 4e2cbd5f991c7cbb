package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/clusteragent/agent/agent/autopilot"
	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/discovery"
	"github.com/clusteragent/agent/raftnode"
)

// backend adapts the agent to httpapi.Backend.
type backend struct{ a *Agent }

var _ httpapi.Backend = backend{}

func (b backend) Status() httpapi.Status {
	a := b.a
	st := httpapi.Status{NodeID: a.NodeID(), ClusterID: a.ClusterID(), State: "none", Server: a.raft != nil, Version: Version,
		LastContact: "never", LastContactSeconds: -1}
	if a.raft == nil {
		return st
	}
	rs := a.raft.Status()
	st.State, st.LeaderID, st.LeaderAddr = rs.State, rs.LeaderID, rs.LeaderAddr
	st.Term, st.CommitIndex, st.AppliedIndex, st.LastLogIndex = rs.Term, rs.CommitIndex, rs.AppliedIndex, rs.LastLogIndex
	st.LogStore = rs.LogStore
	if rs.LastContact >= 0 {
		st.LastContact = rs.LastContact.String()
		st.LastContactSeconds = rs.LastContact.Seconds()
	}
	return st
}

func (b backend) Members() []httpapi.Member {
	var out []httpapi.Member
	for _, m := range b.a.gossip.Members() {
		out = append(out, httpapi.Member{
			ID:       m.ID,
			Addr:     m.Addr,
			Status:   string(m.Status),
			RaftAddr: m.Meta.RaftAddr,
			Role:     string(m.Meta.Role),
			Zone:     m.Meta.Zone,
			Meta: map[string]string{
				"cluster_id": m.Meta.ClusterID,
				"http_addr":  m.Meta.HTTPAddr,
				"version":    m.Meta.Version,
				"has_state":  strconv.FormatBool(m.Meta.HasState),
			},
		})
	}
	return out
}

func (b backend) RaftConfiguration(ctx context.Context) (httpapi.RaftConfiguration, error) {
	if b.a.raft == nil {
		return httpapi.RaftConfiguration{}, httpapi.ErrNotServer
	}
	conf, err := b.a.raft.GetConfiguration(ctx)
	if err != nil {
		return httpapi.RaftConfiguration{}, mapRaftErr(err)
	}
	out := httpapi.RaftConfiguration{Index: conf.Index, Servers: []httpapi.RaftServer{}}
	leader := b.a.raft.LeaderID()
	for _, s := range conf.Servers {
		suffrage := s.Suffrage
		if suffrage == "staging" {
			suffrage = "nonvoter"
		}
		out.Servers = append(out.Servers, httpapi.RaftServer{ID: s.ID, Address: s.Address, Suffrage: suffrage, Leader: s.ID == leader})
	}
	return out, nil
}

func (b backend) RemovePeer(ctx context.Context, id string) error {
	a := b.a
	if a.raft == nil {
		return httpapi.ErrNotServer
	}
	if !a.raft.IsLeader() {
		return httpapi.ErrNotLeader
	}
	conf, err := a.raft.GetConfiguration(ctx)
	if err != nil {
		return mapRaftErr(err)
	}
	if err := removeRefusal(conf.Servers, id); err != nil {
		return err
	}
	instance := ""
	if m, ok := a.gossip.Member(id); ok {
		instance = m.Instance
	}
	a.tombstones.add(id, instance, a.clock.Now())
	if err := a.raft.RemoveServer(ctx, id); err != nil {
		return mapRaftErr(err)
	}
	a.logger.Info("removed server on request", "id", id)
	return nil
}

func (b backend) TransferLeadership(ctx context.Context, id string) error {
	a := b.a
	if a.raft == nil {
		return httpapi.ErrNotServer
	}
	if !a.raft.IsLeader() {
		return httpapi.ErrNotLeader
	}
	conf, err := a.raft.GetConfiguration(ctx)
	if err != nil {
		return mapRaftErr(err)
	}
	if err := transferRefusal(conf.Servers, a.NodeID(), id); err != nil {
		return err
	}
	if err := a.raft.TransferLeadership(ctx, id); err != nil {
		return mapRaftErr(err)
	}
	return nil
}

func (b backend) AutopilotHealth(ctx context.Context) (httpapi.AutopilotHealth, error) {
	a := b.a
	if a.raft == nil {
		return httpapi.AutopilotHealth{}, httpapi.ErrNotServer
	}
	if !a.raft.IsLeader() {
		return httpapi.AutopilotHealth{}, httpapi.ErrNotLeader
	}
	st := a.pilot.Health()
	if st == nil {
		return httpapi.AutopilotHealth{}, fmt.Errorf("%w: autopilot has not computed the cluster state yet", httpapi.ErrUnavailable)
	}
	conf, err := a.raft.GetConfiguration(ctx)
	if err != nil {
		return httpapi.AutopilotHealth{}, mapRaftErr(err)
	}
	return onlyConfigured(healthFromState(st), conf.Servers), nil
}

func healthFromState(st *autopilot.Health) httpapi.AutopilotHealth {
	out := httpapi.AutopilotHealth{Healthy: st.Healthy, FailureTolerance: st.FailureTolerance, Leader: st.Leader,
		Voters: st.Voters, Servers: make([]httpapi.AutopilotServer, 0, len(st.Servers))}
	for _, s := range st.Servers {
		out.Servers = append(out.Servers, httpapi.AutopilotServer{
			ID:          s.ID,
			Address:     s.Address,
			NodeStatus:  s.NodeStatus,
			Healthy:     s.Healthy,
			Voter:       s.Voter,
			Leader:      s.Leader,
			LastContact: s.Stats.LastContact.String(),
			LastTerm:    s.Stats.LastTerm,
			LastIndex:   s.Stats.LastIndex,
			StableSince: s.StableSince.UTC().Format(time.RFC3339Nano),
		})
	}
	return out
}

func (b backend) Ready() error {
	a := b.a
	if a.raft == nil {
		if !a.gossip.Joined() {
			return fmt.Errorf("%w: not joined to any gossip member yet", httpapi.ErrUnavailable)
		}
		return nil
	}
	return a.ready()
}

// Leave runs the graceful leave now, so the caller learns whether it
// worked, and stops the agent afterwards: stopping needs the HTTP server to
// drain, which waits for this very request.
func (b backend) Leave(ctx context.Context) error {
	a := b.a
	var err error
	ran := false
	a.shutdownOnce.Do(func() {
		ran = true
		err = a.leave(ctx)
		go func() {
			a.stopAll()
			a.logger.Info("agent stopped after leaving")
		}()
	})
	if !ran {
		return fmt.Errorf("%w: %v", httpapi.ErrUnavailable, ErrShutdown)
	}
	return err
}

func (b backend) ServerStats() httpapi.ServerStats {
	a := b.a
	st := httpapi.ServerStats{NodeID: a.NodeID(), ClusterID: a.ClusterID(), LastContactNanos: -1, ServerIDs: []string{}}
	if a.raft != nil {
		rs := a.raft.Status()
		st.LastContactNanos = int64(rs.LastContact)
		st.LastTerm, st.LastIndex = rs.LastLogTerm, rs.LastLogIndex
		st.HasState = a.raft.HasState()
	}
	for _, m := range a.gossip.Members() {
		if m.Meta.Role == discovery.RoleServer && m.Status == discovery.StatusAlive {
			st.ServerIDs = append(st.ServerIDs, m.ID)
		}
	}
	return st
}

// LeaderHTTPAddr is where requests are forwarded: the leader's Raft port,
// which also serves the agent API to other agents (see internal/mux). A
// server whose Raft knows no leader asks the other servers (see
// leaderHint), so one waiting to be added forwards at once instead of
// answering 503.
func (b backend) LeaderHTTPAddr() string {
	if b.a.raft == nil {
		return b.a.leaderAddrFromServers()
	}
	if addr := b.a.raft.LeaderAddr(); addr != "" {
		return addr
	}
	return b.a.leaderFromPeers()
}

func (b backend) IsLeader() bool { return b.a.raft != nil && b.a.raft.IsLeader() }

// leaderAddrFromServers lets a gossip-only member find the leader: it asks
// alive servers of its cluster for their status, which names the leader.
func (a *Agent) leaderAddrFromServers() string {
	ctx, cancel := context.WithTimeout(a.ctx, 2*time.Second)
	defer cancel()
	for _, m := range a.gossip.Members() {
		if m.Meta.Role != discovery.RoleServer || m.Status != discovery.StatusAlive || !a.sameCluster(m) {
			continue
		}
		if st, err := a.peers.Status(ctx, m.Meta.RaftAddr); err == nil && st.LeaderAddr != "" {
			return st.LeaderAddr
		}
	}
	return ""
}

// localAutopilotStats is the leader's own entry in autopilot's stats.
func (a *Agent) localAutopilotStats() autopilot.ServerStats {
	st := a.raft.Status()
	return autopilot.ServerStats{LastContact: 0, LastTerm: st.LastLogTerm, LastIndex: st.LastLogIndex}
}

func mapRaftErr(err error) error {
	switch {
	case errors.Is(err, raftnode.ErrNotLeader):
		return fmt.Errorf("%w: %v", httpapi.ErrNotLeader, err)
	case errors.Is(err, raftnode.ErrNoLeader):
		return fmt.Errorf("%w: %v", httpapi.ErrNoLeader, err)
	case errors.Is(err, raftnode.ErrClosed):
		return fmt.Errorf("%w: %v", httpapi.ErrUnavailable, err)
	case errors.Is(err, raftnode.ErrUnknownServer):
		return fmt.Errorf("%w: %v", httpapi.ErrNotFound, err)
	case errors.Is(err, raftnode.ErrInvalidArgument):
		return fmt.Errorf("%w: %v", httpapi.ErrBadRequest, err)
	}
	return err
}
