package autopilot

import (
	"github.com/hashicorp/raft"
	ap "github.com/hashicorp/raft-autopilot"

	"github.com/clusteragent/agent/internal/clock"
)

// Promoter implements raft-autopilot's Promoter with our voter policy
// (planVoters) and removal filter (filterRemovals). Its methods run on
// autopilot's goroutines and never block: they only read the state given.
type Promoter struct {
	clock clock.Clock
}

// NewPromoter returns a promoter reading time from c.
func NewPromoter(c clock.Clock) *Promoter { return &Promoter{clock: c} }

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

// FilterFailedServerRemovals applies filterRemovals.
func (p *Promoter) FilterFailedServerRemovals(c *ap.Config, s *ap.State, failed *ap.FailedServers) *ap.FailedServers {
	settings, ok := c.Ext.(*Settings)
	if !ok {
		return &ap.FailedServers{}
	}
	return filterRemovals(*settings, s, failed, p.clock.Now())
}

// IsPotentialVoter reports whether a node type may vote.
func (p *Promoter) IsPotentialVoter(t ap.NodeType) bool { return t == ap.NodeVoter }
