package autopilot

import (
	"sort"
	"time"

	"github.com/hashicorp/raft"
	ap "github.com/hashicorp/raft-autopilot"
)

// planVoters decides which non-voters to promote and which voters to demote.
// It is pure: the same state, settings and time always give the same answer.
//
// Rules, in order:
//  1. Voters that are alive and healthy are kept. The leader is always kept.
//  2. Stable non-voters are promoted while there are fewer than MaxVoters
//     voters, preferring a zone that has no voter yet, then the longest stable.
//  3. A failed voter (gossip says it is not alive, or it has been unhealthy
//     for a whole stabilization period) is demoted only when a promotion in
//     this plan takes its seat: demoting without a replacement would lower
//     failure tolerance for nothing, and pruning removes it later anyway.
//  4. Voters above MaxVoters (the cap was lowered) are demoted, never the
//     leader and never below MinQuorum.
//  5. At the cap, one swap per round moves a seat from a zone holding two or
//     more voters to a zone holding none.
//  6. No demotion may leave the remaining voters without a majority of live,
//     healthy ones (keepLiveQuorum), even if that keeps one voter above
//     MaxVoters until the failed one is pruned.
//
// raft-autopilot applies the result conservatively: a failed voter is demoted
// first only when the voter count is odd, and when anything was promoted in a
// round no other demotion happens in that round.
func planVoters(s Settings, state *ap.State, now time.Time, stabilization time.Duration) ap.RaftChanges {
	var changes ap.RaftChanges
	if state == nil || s.MaxVoters < 1 {
		return changes
	}
	keep, failed, eligible := classify(state, now, stabilization)

	zones := make(map[string]int)
	for _, srv := range keep {
		zones[zoneOf(srv)]++
	}
	for len(keep)+len(changes.Promotions) < s.MaxVoters && len(eligible) > 0 {
		i := pickCandidate(eligible, zones)
		zones[zoneOf(eligible[i])]++
		changes.Promotions = append(changes.Promotions, eligible[i].Server.ID)
		eligible = append(eligible[:i], eligible[i+1:]...)
	}

	overflow := len(keep) + len(changes.Promotions) + len(failed) - s.MaxVoters
	for i := 0; i < len(failed) && i < overflow && i < len(changes.Promotions); i++ {
		changes.Demotions = append(changes.Demotions, failed[i].Server.ID)
	}

	if extra := len(keep) - s.MaxVoters; extra > 0 {
		changes.Demotions = append(changes.Demotions, capDemotions(keep, state.Leader, extra, s.MinQuorum)...)
		changes.Demotions = keepLiveQuorum(changes.Demotions, keep, failed)
		return changes
	}
	if len(changes.Promotions) == 0 && len(keep) == s.MaxVoters {
		promote, demote, ok := zoneSwap(keep, eligible, zones, state.Leader)
		// A swap is one move: if its demotion is unsafe, skip both.
		if ok && len(keepLiveQuorum([]raft.ServerID{demote}, keep, failed)) == 1 {
			changes.Promotions = append(changes.Promotions, promote)
			changes.Demotions = append(changes.Demotions, demote)
		}
	}
	changes.Demotions = keepLiveQuorum(changes.Demotions, keep, failed)
	return changes
}

// keepLiveQuorum drops demotions, last first, until the voters left after
// all of them still hold a majority of live, healthy ones. raft-autopilot
// may apply a plan's demotions before its promotions (it demotes a failed
// voter first when the voter count is odd), so a demotion must be safe on
// its own: with voters a (leader), b and c, b dead and c still marked failed
// after a partition, demoting c while promoting a newcomer would leave a and
// the dead b as the only voters, and no leader could ever be elected again.
func keepLiveQuorum(demotions []raft.ServerID, keep, failed []*ap.ServerState) []raft.ServerID {
	healthy := make(map[raft.ServerID]bool, len(keep))
	for _, srv := range keep {
		healthy[srv.Server.ID] = true
	}
	for len(demotions) > 0 {
		remaining := len(keep) + len(failed) - len(demotions)
		live := len(keep)
		for _, id := range demotions {
			if healthy[id] {
				live--
			}
		}
		if live > remaining/2 {
			break
		}
		demotions = demotions[:len(demotions)-1]
	}
	return demotions
}

// classify splits servers into kept voters, failed voters (oldest failure
// first) and promotable non-voters (longest stable first).
func classify(state *ap.State, now time.Time, stabilization time.Duration) (keep, failed, eligible []*ap.ServerState) {
	for id, srv := range state.Servers {
		switch {
		case srv.HasVotingRights() || id == state.Leader:
			if id != state.Leader && voterFailed(srv, now, stabilization) {
				failed = append(failed, srv)
			} else {
				keep = append(keep, srv)
			}
		case srv.State == ap.RaftNonVoter || srv.State == ap.RaftStaging:
			if srv.Server.NodeStatus == ap.NodeAlive && srv.Health.IsStable(now, stabilization) {
				eligible = append(eligible, srv)
			}
		}
	}
	sortByStable(keep)
	sortByStable(eligible)
	sort.Slice(failed, func(i, j int) bool {
		fi, fj := extOf(failed[i].Server.Ext).FailedSince, extOf(failed[j].Server.Ext).FailedSince
		if !fi.Equal(fj) {
			return fi.Before(fj)
		}
		return failed[i].Server.ID < failed[j].Server.ID
	})
	return keep, failed, eligible
}

// voterFailed reports whether a voter may be replaced.
func voterFailed(srv *ap.ServerState, now time.Time, stabilization time.Duration) bool {
	if srv.Server.NodeStatus != ap.NodeAlive {
		return true
	}
	return !srv.Health.Healthy && now.Sub(srv.Health.StableSince) >= stabilization
}

func sortByStable(list []*ap.ServerState) {
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i].Health.StableSince, list[j].Health.StableSince
		if !a.Equal(b) {
			return a.Before(b)
		}
		return list[i].Server.ID < list[j].Server.ID
	})
}

func zoneOf(srv *ap.ServerState) string { return extOf(srv.Server.Ext).Zone }

// pickCandidate returns the index of the first candidate in a zone without a
// voter, or 0 when every candidate's zone already has one.
func pickCandidate(eligible []*ap.ServerState, zones map[string]int) int {
	for i, srv := range eligible {
		if zones[zoneOf(srv)] == 0 {
			return i
		}
	}
	return 0
}

// capDemotions picks extra voters to demote from the most crowded zones,
// newest first, skipping the leader and stopping at minQuorum.
func capDemotions(keep []*ap.ServerState, leader raft.ServerID, extra, minQuorum int) []raft.ServerID {
	zones := make(map[string]int)
	for _, srv := range keep {
		zones[zoneOf(srv)]++
	}
	order := append([]*ap.ServerState(nil), keep...)
	sort.SliceStable(order, func(i, j int) bool {
		zi, zj := zones[zoneOf(order[i])], zones[zoneOf(order[j])]
		if zi != zj {
			return zi > zj
		}
		si, sj := order[i].Health.StableSince, order[j].Health.StableSince
		if !si.Equal(sj) {
			return si.After(sj)
		}
		return order[i].Server.ID > order[j].Server.ID
	})
	var out []raft.ServerID
	for _, srv := range order {
		if len(out) == extra || len(keep)-len(out) <= minQuorum {
			break
		}
		if srv.Server.ID == leader {
			continue
		}
		out = append(out, srv.Server.ID)
	}
	return out
}

// zoneSwap finds a stable non-voter in a zone without voters and a non-leader
// voter in a zone with two or more.
func zoneSwap(keep, eligible []*ap.ServerState, zones map[string]int, leader raft.ServerID) (promote, demote raft.ServerID, ok bool) {
	for _, cand := range eligible {
		if zones[zoneOf(cand)] != 0 {
			continue
		}
		for i := len(keep) - 1; i >= 0; i-- {
			v := keep[i]
			if v.Server.ID != leader && zones[zoneOf(v)] >= 2 {
				return cand.Server.ID, v.Server.ID, true
			}
		}
		return "", "", false
	}
	return "", "", false
}

// filterRemovals keeps only the failed servers that may be removed in this
// pass:
//   - never the leader;
//   - a member that left at once, a failed one once it has been failed for
//     DeadServerReapAfter; an alive one never (the library only offers
//     servers the delegate reports as not alive);
//   - at most (voters-1)/2 voters, voters being those of the Raft
//     configuration before the pass, so the voters that stay are a majority
//     even if every removed one was in fact still running;
//   - never so many voters that fewer than MinQuorum remain (when set).
//
// raft-autopilot applies similar guards after this filter, but it counts
// every server as a potential voter, non-voters included, so with non-voters
// present it would remove a majority of the voters or go below MinQuorum
// voters. Within the voter budget, stale voters go first (the library removes
// them first), then members that left, then the longest failed.
func filterRemovals(s Settings, state *ap.State, failed *ap.FailedServers, now time.Time) *ap.FailedServers {
	out := &ap.FailedServers{}
	if failed == nil {
		return out
	}
	var leader raft.ServerID
	if state != nil {
		leader = state.Leader
	}
	removable := func(srv *ap.Server) bool {
		if srv.ID == leader {
			return false
		}
		if srv.NodeStatus == ap.NodeLeft {
			return true
		}
		since := extOf(srv.Ext).FailedSince
		return !since.IsZero() && now.Sub(since) >= s.DeadServerReapAfter
	}
	budget := voterBudget(s, votersBefore(state, failed))
	for _, id := range failed.StaleNonVoters {
		if id != leader {
			out.StaleNonVoters = append(out.StaleNonVoters, id)
		}
	}
	for _, id := range failed.StaleVoters {
		if id != leader && len(out.StaleVoters) < budget {
			out.StaleVoters = append(out.StaleVoters, id)
		}
	}
	budget -= len(out.StaleVoters)
	for _, srv := range failed.FailedNonVoters {
		if removable(srv) {
			out.FailedNonVoters = append(out.FailedNonVoters, srv)
		}
	}
	var voters []*ap.Server
	for _, srv := range failed.FailedVoters {
		if removable(srv) {
			voters = append(voters, srv)
		}
	}
	sort.SliceStable(voters, func(i, j int) bool {
		li, lj := voters[i].NodeStatus == ap.NodeLeft, voters[j].NodeStatus == ap.NodeLeft
		if li != lj {
			return li
		}
		fi, fj := extOf(voters[i].Ext).FailedSince, extOf(voters[j].Ext).FailedSince
		if !fi.Equal(fj) {
			return fi.Before(fj)
		}
		return voters[i].ID < voters[j].ID
	})
	if len(voters) > budget {
		voters = voters[:budget]
	}
	out.FailedVoters = voters
	return out
}

// votersBefore counts the voters of the Raft configuration a removal pass
// starts from: the voters of the state, plus any failed or stale voter the
// state does not list yet (promoted since the state was built).
func votersBefore(state *ap.State, failed *ap.FailedServers) int {
	voters := make(map[raft.ServerID]bool)
	if state != nil {
		for id, srv := range state.Servers {
			if srv.HasVotingRights() {
				voters[id] = true
			}
		}
	}
	if failed != nil {
		for _, id := range failed.StaleVoters {
			voters[id] = true
		}
		for _, srv := range failed.FailedVoters {
			voters[srv.ID] = true
		}
	}
	return len(voters)
}

// voterBudget is how many voters one removal pass may remove.
func voterBudget(s Settings, voters int) int {
	budget := (voters - 1) / 2
	if s.MinQuorum > 0 {
		budget = min(budget, voters-s.MinQuorum)
	}
	return max(budget, 0)
}
