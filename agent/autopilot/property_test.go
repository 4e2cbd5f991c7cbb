package autopilot

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	ap "github.com/hashicorp/raft-autopilot"
)

// propertyCases is how many random cases TestPromoterProperties runs.
const propertyCases = 100_000

var propertySeed = flag.Uint64("autopilot.seed", 0,
	"run only the TestPromoterProperties case with this seed (0: run propertyCases cases from a random base seed)")

// TestPromoterProperties drives the delegate and the promoter together over
// random Raft configurations, gossip membership, health and settings, and
// checks the membership rules on every case (see checkRules). A failure
// prints the case and the command that replays it. The cases are split over
// one parallel subtest per CPU.
func TestPromoterProperties(t *testing.T) {
	if *propertySeed != 0 {
		checkSeed(t, newPropRunner(), *propertySeed)
		return
	}
	base := rand.Uint64()
	t.Logf("base seed %d (case i has seed base+i)", base)
	shards := uint64(runtime.GOMAXPROCS(0))
	for shard := range shards {
		t.Run(fmt.Sprintf("shard%d", shard), func(t *testing.T) {
			t.Parallel()
			pr := newPropRunner()
			for i := shard; i < propertyCases; i += shards {
				if !checkSeed(t, pr, base+i) {
					return
				}
			}
		})
	}
}

// checkSeed runs one case twice and checks the rules and determinism.
func checkSeed(t *testing.T, pr *propRunner, seed uint64) bool {
	t.Helper()
	c := genCase(seed)
	res, again := pr.run(c)
	err := checkRules(c, res)
	if err == nil && !sameResult(res, again) {
		err = fmt.Errorf("not deterministic: a second pass gave %s", again)
	}
	if err != nil {
		t.Errorf("%v\nreplay: go test ./agent/autopilot -run TestPromoterProperties -autopilot.seed=%d\ncase: %sresult: %s",
			err, seed, c, res)
		return false
	}
	return true
}

func checkRules(c propCase, r propResult) error {
	for _, check := range []func(propCase, propResult) error{
		checkDelegate, checkNodeTypes, checkPromotions, checkRemovals, checkRemovalLog,
	} {
		if err := check(c, r); err != nil {
			return err
		}
	}
	return nil
}

// configVoters is V in the rules below: the voters of the Raft
// configuration, the leader included.
func configVoters(c propCase) int {
	v := 0
	for _, p := range c.Servers {
		if p.Voter {
			v++
		}
	}
	return v
}

func gossipAliveOrSuspect(p propServer) bool {
	return p.Gossip == gossipAlive || p.Gossip == gossipSuspect
}

// checkDelegate checks KnownServers:
//   - it reports every gossip member and every server of the Raft
//     configuration, and nothing else;
//   - alive and suspect members are alive; dead members are failed and left
//     members left, both since Member.Since;
//   - a configuration server that gossip has forgotten is failed since the
//     delegate first noticed it missing (here: when it vanished);
//   - every server is reported as a potential voter, zone carried over;
//   - the delegate remembers absences of missing servers only.
func checkDelegate(c propCase, r propResult) error {
	if len(r.known) != len(c.Servers)+len(c.GossipOnly) {
		return fmt.Errorf("delegate: %d known servers, want %d", len(r.known), len(c.Servers)+len(c.GossipOnly))
	}
	missing := 0
	for _, p := range slices.Concat(c.Servers, c.GossipOnly) {
		k, ok := r.known[raft.ServerID(p.ID)]
		if !ok {
			return fmt.Errorf("delegate: %s not reported", p.ID)
		}
		status, since := ap.NodeAlive, time.Time{}
		switch p.Gossip {
		case gossipDead:
			status, since = ap.NodeFailed, t0.Add(-p.Since)
		case gossipMissing:
			status, since = ap.NodeFailed, t0.Add(-p.Since)
			missing++
			if !r.absent[raft.ServerID(p.ID)].Equal(since) {
				return fmt.Errorf("delegate: %s noted absent since %s, want %s", p.ID, r.absent[raft.ServerID(p.ID)], since)
			}
		case gossipLeft:
			status, since = ap.NodeLeft, t0.Add(-p.Since)
		}
		ext := extOf(k.Ext)
		if k.NodeStatus != status || !ext.FailedSince.Equal(since) {
			return fmt.Errorf("delegate: %s (%s) reported %s failed since %s, want %s since %s",
				p.ID, p.Gossip, k.NodeStatus, ext.FailedSince, status, since)
		}
		if k.NodeType != ap.NodeVoter {
			return fmt.Errorf("delegate: %s reported as %q, want a potential voter", p.ID, k.NodeType)
		}
		if p.Gossip != gossipMissing && ext.Zone != p.Zone {
			return fmt.Errorf("delegate: %s in zone %q, want %q", p.ID, ext.Zone, p.Zone)
		}
	}
	if len(r.absent) != missing {
		return fmt.Errorf("delegate: remembers %d absences, want %d", len(r.absent), missing)
	}
	return nil
}

// checkNodeTypes checks GetNodeTypes: every server of the state, and only
// those, is a potential voter.
func checkNodeTypes(_ propCase, r propResult) error {
	if len(r.types) != len(r.state.Servers) {
		return fmt.Errorf("node types for %d servers, state has %d", len(r.types), len(r.state.Servers))
	}
	p := NewPromoter(nil, nil)
	for id := range r.state.Servers {
		if t := r.types[id]; t != ap.NodeVoter || !p.IsPotentialVoter(t) {
			return fmt.Errorf("node type of %s is %q, want a potential voter", id, t)
		}
	}
	return nil
}

// checkPromotions checks CalculatePromotionsAndDemotions. With V the voters
// of the Raft configuration, P the promotions, D the demotions and stab the
// server stabilization time:
//
//	P1 a promoted server is a non-voter that gossip calls alive (or suspect),
//	   healthy, and stable for at least stab: now-StableSince >= stab;
//	P2 a demoted server is a voter, never the leader;
//	P3 no server appears twice in P and D together;
//	P4 V+|P|-|D| <= max(max_voters, V): a plan never takes the voters past
//	   max_voters (a cap lowered below V is met by demotions, bounded by P5);
//	P5 if D is non-empty, V+|P|-|D| >= min(V, max(min_quorum, 1)): demotions
//	   never take the voters below min_quorum, nor below one;
//	P7 the voters left after D alone keep a majority of live, healthy
//	   ones (demotions may be applied before promotions); P4 may be
//	   exceeded only where one more demotion would break this;
//	P6 room is used: with K the voters that have not failed (the leader, and
//	   every voter that gossip calls alive and that has not been unhealthy
//	   for stab) and E the servers P1 allows, |P| = min(|E|, max_voters-K)
//	   when K < max_voters; otherwise |P| <= 1, and a promotion comes with
//	   one demotion (a seat moving to a zone without voters).
func checkPromotions(c propCase, r propResult) error {
	s := c.Settings
	stab := s.ServerStabilizationTime
	if got := r.state.ServerStabilizationTime(r.conf); got != stab {
		return fmt.Errorf("state stabilization time %s, want %s", got, stab)
	}
	byID := make(map[string]propServer, len(c.Servers))
	kept, eligible := 0, 0
	for _, p := range c.Servers {
		byID[p.ID] = p
		switch {
		case p.ID == c.Leader:
			kept++
		case p.Voter:
			if gossipAliveOrSuspect(p) && (p.Healthy || p.Stable < stab) {
				kept++
			}
		case gossipAliveOrSuspect(p) && p.Healthy && p.Stable >= stab:
			eligible++
		}
	}
	seen := make(map[raft.ServerID]bool)
	for _, id := range r.changes.Promotions {
		p, ok := byID[string(id)]
		if seen[id] || !ok {
			return fmt.Errorf("P3: promotion of %s is repeated or unknown", id)
		}
		seen[id] = true
		if p.Voter || !gossipAliveOrSuspect(p) || !p.Healthy || p.Stable < stab {
			return fmt.Errorf("P1: promoted %s, which is not a healthy alive non-voter stable for %s", id, stab)
		}
	}
	for _, id := range r.changes.Demotions {
		p, ok := byID[string(id)]
		if seen[id] || !ok {
			return fmt.Errorf("P3: demotion of %s is repeated, unknown or also a promotion", id)
		}
		seen[id] = true
		if !p.Voter || p.ID == c.Leader {
			return fmt.Errorf("P2: demoted %s, which is a non-voter or the leader", id)
		}
	}
	v, np, nd := configVoters(c), len(r.changes.Promotions), len(r.changes.Demotions)
	after := v + np - nd
	// P7: the voters left after the demotions alone (raft-autopilot may
	// apply them before the promotions) keep a live majority.
	liveLeft := kept
	for _, id := range r.changes.Demotions {
		if p := byID[string(id)]; p.ID == c.Leader || (gossipAliveOrSuspect(p) && (p.Healthy || p.Stable < stab)) {
			liveLeft--
		}
	}
	if nd > 0 && liveLeft <= (v-nd)/2 {
		return fmt.Errorf("P7: demotions leave %d live of %d voters", liveLeft, v-nd)
	}
	// P4, unless one more demotion would have broken P7: then the plan may
	// keep a failed voter above the cap until pruning removes it.
	if after > max(s.MaxVoters, v) && liveLeft > (v-nd-1)/2 {
		return fmt.Errorf("P4: %d voters after the plan, max_voters %d, %d before", after, s.MaxVoters, v)
	}
	if nd > 0 && after < min(v, max(s.MinQuorum, 1)) {
		return fmt.Errorf("P5: %d voters after the plan, min_quorum %d, %d before", after, s.MinQuorum, v)
	}
	if kept < s.MaxVoters {
		if want := min(eligible, s.MaxVoters-kept); np != want {
			return fmt.Errorf("P6: %d promotions, want %d (%d eligible, %d voters kept, max_voters %d)",
				np, want, eligible, kept, s.MaxVoters)
		}
	} else if np > 1 || (np == 1 && nd != 1) {
		return fmt.Errorf("P6: at the cap (%d voters kept, max_voters %d): %d promotions, %d demotions", kept, s.MaxVoters, np, nd)
	}
	return nil
}

// checkRemovals checks FilterFailedServerRemovals. With V as above, R the
// removals it returns and RV the voters among them:
//
//	R1 R never includes the leader;
//	R2 R holds only servers it was offered, each in the list it was offered
//	   in; the delegate reports every configuration server, so none is stale;
//	R3 RV <= (V-1)/2: the voters that stay are a majority of the voters of
//	   the configuration, even if every removed one was in fact running;
//	R4 if min_quorum > 0 and RV > 0: V-RV >= min_quorum;
//	R5 a member that left may be removed at once; a dead or missing one only
//	   once failed for at least dead_server_reap_after; one that gossip calls
//	   alive or suspect (healthy or not) never;
//	R6 nothing is held back beyond those limits: every removable non-voter is
//	   in R, and RV = min(removable voters, (V-1)/2, V-min_quorum when
//	   min_quorum > 0), voters that left going before dead ones.
func checkRemovals(c propCase, r propResult) error {
	s := c.Settings
	out := r.removals
	if out == nil {
		return errors.New("R2: nil removals")
	}
	if len(r.failed.StaleVoters)+len(r.failed.StaleNonVoters) > 0 {
		return fmt.Errorf("R2: stale servers offered: %s", removalIDs(r.failed))
	}
	if len(out.StaleVoters)+len(out.StaleNonVoters) > 0 {
		return fmt.Errorf("R2: stale servers removed that were not offered")
	}
	byID := make(map[string]propServer, len(c.Servers))
	removableVoters, removableLeft := 0, 0
	var removableNonVoters []string
	for _, p := range c.Servers {
		byID[p.ID] = p
		removable := p.ID != c.Leader &&
			(p.Gossip == gossipLeft || ((p.Gossip == gossipDead || p.Gossip == gossipMissing) && p.Since >= s.DeadServerReapAfter))
		switch {
		case !removable:
		case p.Voter:
			removableVoters++
			if p.Gossip == gossipLeft {
				removableLeft++
			}
		default:
			removableNonVoters = append(removableNonVoters, p.ID)
		}
	}
	check := func(list []*ap.Server, offered []*ap.Server, voters bool) error {
		seen := make(map[raft.ServerID]bool)
		for _, srv := range list {
			p, ok := byID[string(srv.ID)]
			if !ok || seen[srv.ID] || !slices.Contains(offered, srv) || p.Voter != voters {
				return fmt.Errorf("R2: %s removed twice, unknown, not offered, or in the wrong list", srv.ID)
			}
			seen[srv.ID] = true
			if p.ID == c.Leader {
				return fmt.Errorf("R1: the leader %s is removed", p.ID)
			}
			switch p.Gossip {
			case gossipLeft:
			case gossipDead, gossipMissing:
				if p.Since < s.DeadServerReapAfter {
					return fmt.Errorf("R5: %s removed %s after it failed, dead_server_reap_after %s", p.ID, p.Since, s.DeadServerReapAfter)
				}
			default:
				return fmt.Errorf("R5: %s removed while gossip calls it %s", p.ID, p.Gossip)
			}
		}
		return nil
	}
	if err := check(out.FailedNonVoters, r.failed.FailedNonVoters, false); err != nil {
		return err
	}
	if err := check(out.FailedVoters, r.failed.FailedVoters, true); err != nil {
		return err
	}
	v, rv := configVoters(c), len(out.FailedVoters)
	if rv > (v-1)/2 {
		return fmt.Errorf("R3: %d of %d voters removed in one pass", rv, v)
	}
	if s.MinQuorum > 0 && rv > 0 && v-rv < s.MinQuorum {
		return fmt.Errorf("R4: %d of %d voters removed, min_quorum %d", rv, v, s.MinQuorum)
	}
	if len(out.FailedNonVoters) != len(removableNonVoters) {
		return fmt.Errorf("R6: %d non-voters removed, want %v", len(out.FailedNonVoters), removableNonVoters)
	}
	want := min(removableVoters, (v-1)/2)
	if s.MinQuorum > 0 {
		want = max(min(want, v-s.MinQuorum), 0)
	}
	if rv != want {
		return fmt.Errorf("R6: %d voters removed, want %d (%d removable of %d, min_quorum %d)", rv, want, removableVoters, v, s.MinQuorum)
	}
	for i, srv := range out.FailedVoters {
		if left := byID[string(srv.ID)].Gossip == gossipLeft; left != (i < min(rv, removableLeft)) {
			return fmt.Errorf("R6: voters that left must go first: %s", removalIDs(out))
		}
	}
	return nil
}

// checkRemovalLog checks the removal pass log line: a pass that removes
// anything logs exactly one info line "autopilot removal pass" with the
// fields voters=V (int), removing=the sorted IDs of R joined by commas,
// removing_voters=RV (int), leader (string) and min_quorum (int); a pass that
// removes nothing logs nothing at info level.
func checkRemovalLog(c propCase, r propResult) error {
	var ids []string
	for _, srv := range slices.Concat(r.removals.FailedNonVoters, r.removals.FailedVoters) {
		ids = append(ids, string(srv.ID))
	}
	if len(ids) == 0 {
		if len(r.log) != 0 {
			return fmt.Errorf("log: a pass removing nothing logged %v", r.log)
		}
		return nil
	}
	if len(r.log) != 1 || r.log[0].msg != "autopilot removal pass" {
		return fmt.Errorf("log: want one line \"autopilot removal pass\", got %v", r.log)
	}
	slices.Sort(ids)
	want := map[string]any{
		"voters":          configVoters(c),
		"removing":        strings.Join(ids, ","),
		"removing_voters": len(r.removals.FailedVoters),
		"leader":          c.Leader,
		"min_quorum":      c.Settings.MinQuorum,
	}
	args := r.log[0].args
	if len(args) != 2*len(want) {
		return fmt.Errorf("log: fields %v, want %v", args, want)
	}
	for i := 0; i < len(args); i += 2 {
		k, _ := args[i].(string)
		if v, ok := want[k]; !ok || args[i+1] != v {
			return fmt.Errorf("log: fields %v, want %v", args, want)
		}
		delete(want, k)
	}
	return nil
}
