package autopilot

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	ap "github.com/hashicorp/raft-autopilot"

	"github.com/clusteragent/agent/internal/clock"
)

// StatsFetcher asks a remote server for the Raft facts autopilot judges its
// health by. It is called concurrently, once per server per update, and must
// honour ctx (autopilot gives it half an update interval).
type StatsFetcher interface {
	FetchStats(ctx context.Context, m Member) (ServerStats, error)
}

// delegate implements raft-autopilot's ApplicationIntegration over gossip.
// Its methods run on autopilot's goroutines and return promptly: member
// lookups are in memory and stats fetches are bounded by ctx.
type delegate struct {
	cfg        func() *ap.Config
	raft       Raft
	members    func() []Member
	fetcher    StatsFetcher
	localID    string
	localStats func() ServerStats
	clock      clock.Clock
	logger     hclog.Logger
	onState    func(*ap.State)
	remove     func(id raft.ServerID)

	mu sync.Mutex
	// absent records when a server in the Raft configuration was first found
	// missing from gossip, so a server gossip has forgotten still waits the
	// full reap delay instead of being removed at once as "stale".
	absent map[raft.ServerID]time.Time
}

var _ ap.ApplicationIntegration = (*delegate)(nil)

func (d *delegate) AutopilotConfig() *ap.Config { return d.cfg() }

func (d *delegate) NotifyState(s *ap.State) {
	if d.onState != nil {
		d.onState(s)
	}
}

// KnownServers reports every gossip server, plus every server of the Raft
// configuration that gossip does not know, as failed since first noticed.
func (d *delegate) KnownServers() map[raft.ServerID]*ap.Server {
	now := d.clock.Now()
	out := make(map[raft.ServerID]*ap.Server)
	for _, m := range d.members() {
		out[raft.ServerID(m.ID)] = toServer(m)
	}
	future := d.raft.GetConfiguration()
	if err := future.Error(); err != nil {
		d.logger.Warn("cannot read raft configuration", "error", err)
		return out
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	inConfig := make(map[raft.ServerID]bool)
	for _, srv := range future.Configuration().Servers {
		inConfig[srv.ID] = true
		if _, known := out[srv.ID]; known {
			delete(d.absent, srv.ID)
			continue
		}
		since, ok := d.absent[srv.ID]
		if !ok {
			since = now
			d.absent[srv.ID] = now
		}
		out[srv.ID] = &ap.Server{
			ID:         srv.ID,
			Name:       string(srv.ID),
			Address:    srv.Address,
			NodeStatus: ap.NodeFailed,
			NodeType:   ap.NodeVoter,
			Ext:        &serverExt{FailedSince: since},
		}
	}
	for id := range d.absent {
		if !inConfig[id] {
			delete(d.absent, id)
		}
	}
	return out
}

func toServer(m Member) *ap.Server {
	ext := &serverExt{Zone: m.Zone}
	status := ap.NodeAlive
	switch m.Status {
	case StatusDead:
		status = ap.NodeFailed
		ext.FailedSince = m.Since
	case StatusLeft:
		status = ap.NodeLeft
		ext.FailedSince = m.Since
	}
	// A suspect member counts as alive: suspicion is often a slow network,
	// and treating it as failed would let a blip demote a voter. Health
	// (last contact, trailing logs) still marks it unhealthy if it is gone.
	return &ap.Server{
		ID:         raft.ServerID(m.ID),
		Name:       m.ID,
		Address:    raft.ServerAddress(m.RaftAddr),
		NodeStatus: status,
		// raft-autopilot counts potential voters from the NodeType reported
		// here (not the promoter's) when deciding how many servers it may
		// prune safely; every server in our configuration may vote.
		NodeType: ap.NodeVoter,
		Version:  m.Version,
		Meta:     map[string]string{"http_addr": m.HTTPAddr, "zone": m.Zone},
		Ext:      ext,
	}
}

// FetchServerStats fetches every server's stats in parallel; servers that do
// not answer before ctx ends are left out, which autopilot reads as unhealthy.
func (d *delegate) FetchServerStats(ctx context.Context, servers map[raft.ServerID]*ap.Server) map[raft.ServerID]*ap.ServerStats {
	out := make(map[raft.ServerID]*ap.ServerStats, len(servers))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for id, srv := range servers {
		if string(id) == d.localID {
			st := d.localStats().toLibrary()
			mu.Lock()
			out[id] = &st
			mu.Unlock()
			continue
		}
		if srv.NodeStatus != ap.NodeAlive || srv.Address == "" {
			continue
		}
		m := Member{ID: string(id), RaftAddr: string(srv.Address), HTTPAddr: srv.Meta["http_addr"]}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := d.fetcher.FetchStats(ctx, m)
			if err != nil {
				d.logger.Debug("failed to fetch server stats", "id", m.ID, "error", err)
				return
			}
			lib := st.toLibrary()
			mu.Lock()
			out[id] = &lib
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// RemoveFailedServer hands the removal to the manager, which runs it on its
// own goroutine: autopilot requires this call to return almost at once.
func (d *delegate) RemoveFailedServer(srv *ap.Server) {
	d.remove(srv.ID)
}
