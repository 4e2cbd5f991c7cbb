package autopilot

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	ap "github.com/hashicorp/raft-autopilot"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusteragent/agent/internal/clock"
)

// Config configures a Manager.
type Config struct {
	Settings
	// CleanupDeadServers enables pruning of failed servers.
	CleanupDeadServers bool
	// LastContactThreshold: a server without leader contact for longer is unhealthy.
	LastContactThreshold time.Duration
	// MaxTrailingLogs: a server further behind the leader is unhealthy.
	MaxTrailingLogs uint64
	// ReconcileInterval is how often promotions, demotions and pruning run. Default 1s.
	ReconcileInterval time.Duration
	// UpdateInterval is how often server health is refreshed. Default 1s.
	UpdateInterval time.Duration
}

// Deps are what a Manager needs from the rest of the agent.
type Deps struct {
	// Raft is the local Raft node (*raft.Raft satisfies it).
	Raft Raft
	// Members returns the Raft-capable gossip members that belong to this
	// cluster, self included. Must be fast (in memory).
	Members func() []Member
	// Fetcher asks remote servers for their stats.
	Fetcher StatsFetcher
	// LocalID is this node's ID; LocalStats its own stats.
	LocalID    string
	LocalStats func() ServerStats
	// Remove removes a failed server from Raft (the leader's RemoveServer).
	Remove func(ctx context.Context, id string) error
	Logger hclog.Logger
	Clock  clock.Clock
	// Registerer gets autopilot_healthy, autopilot_failure_tolerance,
	// autopilot_voters and autopilot_servers_removed_total. May be nil.
	Registerer prometheus.Registerer
}

// Manager runs raft-autopilot on the leader. It lives as long as the agent;
// Start and Stop follow leadership.
type Manager struct {
	deps  Deps
	cfg   atomic.Pointer[ap.Config]
	pilot *ap.Autopilot
	state atomic.Pointer[Health]

	mu      sync.Mutex
	ctx     context.Context // valid while running
	cancel  context.CancelFunc
	removes sync.WaitGroup

	metrics *metrics
}

// New builds a Manager; it does nothing until Start.
func New(cfg Config, deps Deps) (*Manager, error) {
	if deps.Raft == nil || deps.Members == nil || deps.Fetcher == nil || deps.LocalStats == nil || deps.Remove == nil {
		return nil, errors.New("autopilot: Raft, Members, Fetcher, LocalStats and Remove are required")
	}
	if cfg.MaxVoters < 1 {
		return nil, errors.New("autopilot: max_voters must be at least 1")
	}
	if deps.Logger == nil {
		deps.Logger = hclog.NewNullLogger()
	}
	if deps.Clock == nil {
		deps.Clock = clock.Real{}
	}
	if cfg.ReconcileInterval <= 0 {
		cfg.ReconcileInterval = time.Second
	}
	if cfg.UpdateInterval <= 0 {
		cfg.UpdateInterval = time.Second
	}
	m := &Manager{deps: deps}
	m.SetConfig(cfg)
	var err error
	if m.metrics, err = newMetrics(deps.Registerer); err != nil {
		return nil, err
	}
	d := &delegate{
		cfg:        m.cfg.Load,
		raft:       deps.Raft,
		members:    deps.Members,
		fetcher:    deps.Fetcher,
		localID:    deps.LocalID,
		localStats: deps.LocalStats,
		clock:      deps.Clock,
		logger:     deps.Logger.Named("autopilot"),
		onState:    m.notifyState,
		remove:     m.removeAsync,
		absent:     make(map[raft.ServerID]time.Time),
	}
	m.pilot = ap.New(deps.Raft, d,
		ap.WithLogger(deps.Logger),
		ap.WithPromoter(NewPromoter(deps.Clock, deps.Logger.Named("autopilot"))),
		ap.WithTimeProvider(deps.Clock),
		ap.WithReconcileInterval(cfg.ReconcileInterval),
		ap.WithUpdateInterval(cfg.UpdateInterval),
	)
	return m, nil
}

// SetConfig replaces the settings; the next round uses them.
func (m *Manager) SetConfig(cfg Config) {
	settings := cfg.Settings
	m.cfg.Store(&ap.Config{
		CleanupDeadServers:      cfg.CleanupDeadServers,
		LastContactThreshold:    cfg.LastContactThreshold,
		MaxTrailingLogs:         cfg.MaxTrailingLogs,
		MinQuorum:               uint(max(cfg.MinQuorum, 0)),
		ServerStabilizationTime: cfg.ServerStabilizationTime,
		Ext:                     &settings,
	})
}

// Start begins autopilot; call it once leadership is established.
func (m *Manager) Start(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cancel != nil {
		return
	}
	m.ctx, m.cancel = context.WithCancel(ctx)
	m.pilot.Start(m.ctx)
}

// Stop ends autopilot and any removal in flight, and waits for both.
func (m *Manager) Stop() {
	m.mu.Lock()
	cancel := m.cancel
	m.cancel = nil
	m.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-m.pilot.Stop()
	m.removes.Wait()
	m.state.Store(nil)
}

// AddServer adds a gossip server to Raft as a non-voter, or updates the
// address of a known ID in place. raft-autopilot refuses additions that would
// force out too many voters sharing the address.
func (m *Manager) AddServer(mem Member) error {
	return m.pilot.AddServer(&ap.Server{
		ID:      raft.ServerID(mem.ID),
		Name:    mem.ID,
		Address: raft.ServerAddress(mem.RaftAddr),
	})
}

// RemoveDeadServers asks for a prune pass now (after a member left).
func (m *Manager) RemoveDeadServers() { m.pilot.RemoveDeadServers() }

// Health returns autopilot's latest view of the cluster, or nil when not
// running or before its first round. The caller must not modify it.
func (m *Manager) Health() *Health { return m.state.Load() }

func (m *Manager) notifyState(s *ap.State) {
	m.state.Store(healthOf(s))
	m.metrics.observe(s)
}

// removeAsync runs a removal on its own goroutine, bounded by the running
// context so Stop never waits on a hung removal for long.
func (m *Manager) removeAsync(id raft.ServerID) {
	m.mu.Lock()
	ctx := m.ctx
	running := m.cancel != nil
	if running {
		m.removes.Add(1)
	}
	m.mu.Unlock()
	if !running {
		return
	}
	go func() {
		defer m.removes.Done()
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		logger := m.deps.Logger.Named("autopilot")
		if err := m.deps.Remove(rctx, string(id)); err != nil {
			logger.Error("failed to remove failed server", "id", id, "error", err)
			return
		}
		m.metrics.removed.Inc()
		logger.Info("removed failed server", "id", id)
	}()
}
