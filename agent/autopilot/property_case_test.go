package autopilot

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	ap "github.com/hashicorp/raft-autopilot"

	"github.com/clusteragent/agent/internal/clock"
)

// gossipState is what gossip says about a server in a property case.
type gossipState string

const (
	gossipAlive   gossipState = "alive"
	gossipSuspect gossipState = "suspect"
	gossipDead    gossipState = "dead"
	gossipLeft    gossipState = "left"
	// gossipMissing: gossip has forgotten the server (it is only in Raft).
	gossipMissing gossipState = "missing"
)

// propServer is one server of a property case.
type propServer struct {
	ID     string
	Voter  bool // suffrage in the Raft configuration
	Gossip gossipState
	// Since is how long ago the gossip state began: Member.Since for dead and
	// left members, the moment it vanished from gossip for missing ones.
	Since   time.Duration
	Healthy bool          // autopilot health; forced false unless gossip says alive
	Stable  time.Duration // how long the health has been what it is
	Zone    string
}

// propCase is one random input: Raft configuration, gossip membership,
// health and settings, all relative to t0.
type propCase struct {
	Seed     uint64
	Settings Settings
	Leader   string
	Servers  []propServer // the Raft configuration, in this order
	// GossipOnly are gossip members that are not in the Raft configuration;
	// autopilot must ignore them.
	GossipOnly []propServer
}

func (c propCase) String() string {
	var b strings.Builder
	s := c.Settings
	fmt.Fprintf(&b, "seed=%d max_voters=%d min_quorum=%d dead_server_reap_after=%s server_stabilization_time=%s leader=%s\n",
		c.Seed, s.MaxVoters, s.MinQuorum, s.DeadServerReapAfter, s.ServerStabilizationTime, c.Leader)
	line := func(p propServer, role string) {
		fmt.Fprintf(&b, "  %-3s %-9s gossip=%-7s since=%-12s healthy=%-5t stable=%-12s zone=%q\n",
			p.ID, role, p.Gossip, p.Since, p.Healthy, p.Stable, p.Zone)
	}
	for _, p := range c.Servers {
		role := "nonvoter"
		if p.Voter {
			role = "voter"
		}
		line(p, role)
	}
	for _, p := range c.GossipOnly {
		line(p, "gossip")
	}
	return b.String()
}

// genCase draws a case. Durations cluster around the thresholds they are
// compared with, so the boundaries are hit often.
func genCase(seed uint64) propCase {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	reapChoices := []time.Duration{0, time.Second, 30 * time.Second, time.Duration(r.Int64N(int64(2 * time.Minute)))}
	stabChoices := []time.Duration{0, 10 * time.Second, time.Duration(r.Int64N(int64(30 * time.Second)))}
	c := propCase{
		Seed: seed,
		Settings: Settings{
			MaxVoters:               1 + r.IntN(7),
			MinQuorum:               r.IntN(6),
			DeadServerReapAfter:     reapChoices[r.IntN(len(reapChoices))],
			ServerStabilizationTime: stabChoices[r.IntN(len(stabChoices))],
		},
	}
	n := 1 + r.IntN(9)
	zones := r.IntN(4)
	leader := r.IntN(n)
	server := func(id string, leaderGossip bool) propServer {
		p := propServer{
			ID:      id,
			Gossip:  drawGossip(r, leaderGossip),
			Since:   around(r, c.Settings.DeadServerReapAfter),
			Healthy: r.IntN(4) > 0,
			Stable:  around(r, c.Settings.ServerStabilizationTime),
		}
		if zones > 0 {
			p.Zone = "z" + strconv.Itoa(r.IntN(zones))
		}
		return p
	}
	for i := range n {
		p := server("s"+strconv.Itoa(i), i == leader)
		p.Voter = i == leader || r.IntN(3) > 0
		if p.Gossip != gossipAlive && p.Gossip != gossipSuspect {
			p.Healthy = false // autopilot never sees a server healthy that gossip does not call alive
		}
		c.Servers = append(c.Servers, p)
	}
	c.Leader = c.Servers[leader].ID
	for i := range r.IntN(3) {
		p := server("g"+strconv.Itoa(i), false)
		if p.Gossip == gossipMissing {
			p.Gossip = gossipAlive
		}
		c.GossipOnly = append(c.GossipOnly, p)
	}
	return c
}

// drawGossip draws a gossip state; the leader is usually alive (it runs
// autopilot) but not always, so the leader guards are exercised.
func drawGossip(r *rand.Rand, leader bool) gossipState {
	if leader && r.IntN(4) > 0 {
		return gossipAlive
	}
	switch x := r.IntN(20); {
	case x < 9:
		return gossipAlive
	case x < 11:
		return gossipSuspect
	case x < 14:
		return gossipDead
	case x < 17:
		return gossipLeft
	default:
		return gossipMissing
	}
}

// around returns a duration at, just before or just after th, zero, or
// anywhere up to twice th.
func around(r *rand.Rand, th time.Duration) time.Duration {
	switch r.IntN(6) {
	case 0:
		return 0
	case 1:
		return max(th-time.Nanosecond, 0)
	case 2:
		return th
	case 3:
		return th + time.Nanosecond
	default:
		return time.Duration(r.Int64N(int64(2*th + 2*time.Second)))
	}
}

// propResult is everything the delegate and the promoter produced for a case.
type propResult struct {
	raftConfig raft.Configuration
	known      map[raft.ServerID]*ap.Server
	absent     map[raft.ServerID]time.Time
	conf       *ap.Config
	state      *ap.State
	types      map[raft.ServerID]ap.NodeType
	failed     *ap.FailedServers
	changes    ap.RaftChanges
	removals   *ap.FailedServers
	log        []logLine // what the promoter logged at info level
}

// sameResult reports whether two runs of a case gave the same output: the
// delegate's servers, the changes and removals in the same order, the same log.
func sameResult(a, b propResult) bool {
	if len(a.known) != len(b.known) || !slices.EqualFunc(a.log, b.log, sameLine) ||
		!slices.Equal(a.changes.Promotions, b.changes.Promotions) ||
		!slices.Equal(a.changes.Demotions, b.changes.Demotions) ||
		!slices.Equal(a.removals.StaleNonVoters, b.removals.StaleNonVoters) ||
		!slices.Equal(a.removals.StaleVoters, b.removals.StaleVoters) ||
		!slices.EqualFunc(a.removals.FailedNonVoters, b.removals.FailedNonVoters, sameID) ||
		!slices.EqualFunc(a.removals.FailedVoters, b.removals.FailedVoters, sameID) {
		return false
	}
	for id, ka := range a.known {
		kb, ok := b.known[id]
		ea, eb := extOf(ka.Ext), extOf(kb.Ext)
		if !ok || ka.NodeStatus != kb.NodeStatus || ka.NodeType != kb.NodeType ||
			ea.Zone != eb.Zone || !ea.FailedSince.Equal(eb.FailedSince) {
			return false
		}
	}
	return true
}

func sameID(a, b *ap.Server) bool { return a.ID == b.ID }

// sameLine compares two log lines; their values are ints and strings.
func sameLine(a, b logLine) bool { return a.msg == b.msg && slices.Equal(a.args, b.args) }

func (r propResult) String() string {
	return fmt.Sprintf("promotions=%v demotions=%v removals=%s failed=%s log=%v",
		r.changes.Promotions, r.changes.Demotions, removalIDs(r.removals), removalIDs(r.failed), r.log)
}

// removalIDs lists a removal set by category, in the order given.
func removalIDs(f *ap.FailedServers) string {
	if f == nil {
		return "<nil>"
	}
	names := func(list []*ap.Server) []raft.ServerID {
		out := make([]raft.ServerID, len(list))
		for i, s := range list {
			out[i] = s.ID
		}
		return out
	}
	return fmt.Sprintf("{stale_nonvoters:%v stale_voters:%v failed_nonvoters:%v failed_voters:%v}",
		f.StaleNonVoters, f.StaleVoters, names(f.FailedNonVoters), names(f.FailedVoters))
}

// propRunner runs cases one after the other, reusing one logger.
type propRunner struct {
	logger recordLogger
}

func newPropRunner() *propRunner {
	return &propRunner{logger: recordLogger{Logger: hclog.NewNullLogger()}}
}

// recordLogger keeps what is logged at info level, unformatted: the property
// test checks the fields, and encoding them to JSON and back would be most of
// its run time (TestRemovalPassLog checks the JSON line).
type recordLogger struct {
	hclog.Logger
	lines []logLine
}

type logLine struct {
	msg  string
	args []any
}

func (l *recordLogger) Info(msg string, args ...any) {
	l.lines = append(l.lines, logLine{msg: msg, args: args})
}

// run drives the real delegate and promoter the way raft-autopilot v0.3.0
// does, and returns the results of two identical passes (see pass): KnownServers over gossip and the Raft configuration, a state built as
// the library's buildServerState builds it, GetNodeTypes, the reconcile call
// and the prune call with failed servers gathered as getFailedServers does.
func (pr *propRunner) run(c propCase) (first, second propResult) {
	var base propResult
	all := slices.Concat(c.Servers, c.GossipOnly)
	addrs := make([]string, len(all))
	for i := range all {
		addrs[i] = "10.0.0." + strconv.Itoa(i+1) + ":7000"
	}
	for i, p := range c.Servers {
		suffrage := raft.Nonvoter
		if p.Voter {
			suffrage = raft.Voter
		}
		base.raftConfig.Servers = append(base.raftConfig.Servers, raft.Server{
			Suffrage: suffrage, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(addrs[i]),
		})
	}

	// The configuration exactly as the manager builds it.
	var m Manager
	m.SetConfig(Config{Settings: c.Settings, CleanupDeadServers: true})
	base.conf = m.cfg.Load()

	// Replay gossip forgetting the missing servers one by one, so the
	// delegate records when it first noticed each one itself.
	vanish := []time.Time{t0}
	for _, p := range c.Servers {
		if p.Gossip == gossipMissing {
			vanish = append(vanish, t0.Add(-p.Since))
		}
	}
	slices.SortFunc(vanish, func(a, b time.Time) int { return a.Compare(b) })
	vanish = slices.Compact(vanish)
	clk := clock.NewFake(vanish[0])
	members := func() []Member {
		now := clk.Now()
		out := make([]Member, 0, len(all))
		for i, p := range all {
			m := Member{ID: p.ID, RaftAddr: addrs[i], Zone: p.Zone, Status: StatusAlive}
			switch p.Gossip {
			case gossipMissing:
				if !now.Before(t0.Add(-p.Since)) {
					continue
				}
			case gossipSuspect:
				m.Status = StatusSuspect
			case gossipDead:
				m.Status, m.Since = StatusDead, t0.Add(-p.Since)
			case gossipLeft:
				m.Status, m.Since = StatusLeft, t0.Add(-p.Since)
			}
			out = append(out, m)
		}
		return out
	}
	d := &delegate{
		cfg:     m.cfg.Load,
		raft:    configRaft{config: base.raftConfig},
		members: members,
		clock:   clk,
		logger:  hclog.NewNullLogger(),
		absent:  make(map[raft.ServerID]time.Time),
	}
	for _, at := range vanish[:len(vanish)-1] {
		clk.Advance(at.Sub(clk.Now()))
		d.KnownServers()
	}
	clk.Advance(t0.Sub(clk.Now()))

	// A pass is one state update, reconcile and prune at t0. Running it
	// twice checks determinism: maps built afresh iterate in another order.
	pass := func() propResult {
		res := base
		res.known = d.KnownServers()
		res.absent = d.absent
		pr.logger.lines = nil
		p := NewPromoter(clk, &pr.logger)
		res.state = buildState(c, p, res.conf, res.raftConfig, res.known)
		res.types = p.GetNodeTypes(res.conf, res.state)
		for id, typ := range res.types {
			if srv, ok := res.state.Servers[id]; ok {
				srv.Server.NodeType = typ
			}
		}
		res.failed = gatherFailed(res.raftConfig, res.known)
		res.changes = p.CalculatePromotionsAndDemotions(res.conf, res.state)
		res.removals = p.FilterFailedServerRemovals(res.conf, res.state, res.failed)
		res.log = pr.logger.lines
		return res
	}
	return pass(), pass()
}

// buildState mirrors raft-autopilot's nextStateWithInputs/buildServerState
// for a leader with no previous state: the Raft configuration decides which
// servers exist and their suffrage, KnownServers their status and Ext, and
// health is whatever the case says (never healthy when not alive).
func buildState(c propCase, p *Promoter, conf *ap.Config, cfg raft.Configuration, known map[raft.ServerID]*ap.Server) *ap.State {
	st := &ap.State{Healthy: true, Servers: make(map[raft.ServerID]*ap.ServerState)}
	healthy := 0
	for i, rs := range cfg.Servers {
		spec := c.Servers[i]
		ss := &ap.ServerState{Server: ap.Server{ID: rs.ID, Address: rs.Address}, State: ap.RaftNonVoter}
		if rs.Suffrage == raft.Voter {
			ss.State = ap.RaftVoter
		}
		if k, ok := known[rs.ID]; ok {
			ss.Server = *k
			ss.Server.Address = rs.Address
		} else {
			ss.Server.NodeStatus = ap.NodeLeft
		}
		if string(rs.ID) == c.Leader {
			ss.State = ap.RaftLeader
			ss.Server.IsLeader = true
			st.Leader = rs.ID
		}
		ss.Health = ap.ServerHealth{
			Healthy:     spec.Healthy && ss.Server.NodeStatus == ap.NodeAlive,
			StableSince: t0.Add(-spec.Stable),
		}
		if ext := p.GetServerExt(conf, ss); ext != nil {
			ss.Server.Ext = ext
		}
		st.Servers[rs.ID] = ss
		if !ss.Health.Healthy {
			st.Healthy = false
		}
		if ss.HasVotingRights() {
			st.Voters = append(st.Voters, rs.ID)
			if ss.Health.Healthy {
				healthy++
			}
		}
	}
	if quorum := len(st.Voters)/2 + 1; healthy > quorum {
		st.FailureTolerance = healthy - quorum
	}
	if ext := p.GetStateExt(conf, st); ext != nil {
		st.Ext = ext
	}
	return st
}

// gatherFailed mirrors raft-autopilot's getFailedServers.
func gatherFailed(cfg raft.Configuration, known map[raft.ServerID]*ap.Server) *ap.FailedServers {
	stale := make(map[raft.ServerID]raft.Server)
	for _, s := range cfg.Servers {
		stale[s.ID] = s
	}
	var failed ap.FailedServers
	for id, srv := range known {
		rs, found := stale[id]
		if !found {
			continue
		}
		delete(stale, id)
		if srv.NodeStatus != ap.NodeAlive {
			if rs.Suffrage == raft.Voter {
				failed.FailedVoters = append(failed.FailedVoters, srv)
			} else {
				failed.FailedNonVoters = append(failed.FailedNonVoters, srv)
			}
		}
	}
	for id, s := range stale {
		if s.Suffrage == raft.Voter {
			failed.StaleVoters = append(failed.StaleVoters, id)
		} else {
			failed.StaleNonVoters = append(failed.StaleNonVoters, id)
		}
	}
	slices.Sort(failed.StaleVoters)
	slices.Sort(failed.StaleNonVoters)
	byID := func(a, b *ap.Server) int { return strings.Compare(string(a.ID), string(b.ID)) }
	slices.SortFunc(failed.FailedVoters, byID)
	slices.SortFunc(failed.FailedNonVoters, byID)
	return &failed
}

// configRaft is the part of Raft the delegate uses: the configuration.
// Any other method panics (the embedded interface is nil), which would show
// the delegate doing more than it should.
type configRaft struct {
	ap.Raft
	config raft.Configuration
}

func (r configRaft) GetConfiguration() raft.ConfigurationFuture { return configFuture{r.config} }

type configFuture struct{ c raft.Configuration }

func (f configFuture) Error() error                      { return nil }
func (f configFuture) Index() uint64                     { return 0 }
func (f configFuture) Configuration() raft.Configuration { return f.c }
