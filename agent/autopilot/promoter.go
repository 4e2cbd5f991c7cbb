package autopilot

import (
	"slices"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	ap "github.com/hashicorp/raft-autopilot"

	"github.com/clusteragent/agent/internal/clock"
)

// Promoter implements raft-autopilot's Promoter with our voter policy
// (planVoters) and removal filter (filterRemovals). Its methods run on
// autopilot's goroutines and never block: they only read the state given.
type Promoter struct {
	clock  clock.Clock
	logger hclog.Logger
}

// NewPromoter returns a promoter reading time from c (the wall clock when nil)
// and logging each removal pass to logger (discarded when nil).
func NewPromoter(c clock.Clock, logger hclog.Logger) *Promoter {
	if c == nil {
		c = clock.Real{}
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Promoter{clock: c, logger: logger}
}

var _ ap.Promoter = (*Promoter)(nil)

// GetServerExt keeps the Ext the delegate attached (nil means "unchanged").
func (p *Promoter) GetServerExt(*ap.Config, *ap.ServerState) interface{} { return nil }

// GetStateExt adds nothing to the state.
func (p *Promoter) GetStateExt(*ap.Config, *ap.State) interface{} { return nil }

// GetNodeTypes marks every server a potential voter: gossip-only members never
// reach the Raft configuration, so everything in it may vote.
func (p *Promoter) GetNodeTypes(_ *ap.Config, s *ap.State) map[raft.ServerID]ap.NodeType {
	types := make(map[raft.ServerID]ap.NodeType, len(s.Servers))
	for id := range s.Servers {
		types[id] = ap.NodeVoter
	}
	return types
}

// CalculatePromotionsAndDemotions applies planVoters.
func (p *Promoter) CalculatePromotionsAndDemotions(c *ap.Config, s *ap.State) ap.RaftChanges {
	settings, ok := c.Ext.(*Settings)
	if !ok {
		return ap.RaftChanges{}
	}
	return planVoters(*settings, s, p.clock.Now(), s.ServerStabilizationTime(c))
}

// FilterFailedServerRemovals applies filterRemovals and logs the pass when it
// removes anything.
func (p *Promoter) FilterFailedServerRemovals(c *ap.Config, s *ap.State, failed *ap.FailedServers) *ap.FailedServers {
	settings, ok := c.Ext.(*Settings)
	if !ok {
		return &ap.FailedServers{}
	}
	out := filterRemovals(*settings, s, failed, p.clock.Now())
	p.logRemovalPass(*settings, s, failed, out)
	return out
}

// logRemovalPass writes one line per pass that removes something, with what
// an outside checker needs to verify the per-pass rules from the logs alone:
// removing_voters <= (voters-1)/2 and voters-removing_voters >= min_quorum.
// The library may still hold back some of these servers (its own guards run
// after the filter); it never removes one that is not listed here.
func (p *Promoter) logRemovalPass(settings Settings, s *ap.State, failed, out *ap.FailedServers) {
	removing := make([]string, 0, len(out.StaleNonVoters)+len(out.StaleVoters)+len(out.FailedNonVoters)+len(out.FailedVoters))
	for _, id := range slices.Concat(out.StaleNonVoters, out.StaleVoters) {
		removing = append(removing, string(id))
	}
	for _, srv := range slices.Concat(out.FailedNonVoters, out.FailedVoters) {
		removing = append(removing, string(srv.ID))
	}
	if len(removing) == 0 {
		return
	}
	slices.Sort(removing)
	var leader raft.ServerID
	if s != nil {
		leader = s.Leader
	}
	p.logger.Info("autopilot removal pass",
		"voters", votersBefore(s, failed),
		"removing", strings.Join(removing, ","),
		"removing_voters", len(out.StaleVoters)+len(out.FailedVoters),
		"leader", string(leader),
		"min_quorum", settings.MinQuorum,
	)
}

// IsPotentialVoter reports whether a node type may vote.
func (p *Promoter) IsPotentialVoter(t ap.NodeType) bool { return t == ap.NodeVoter }
