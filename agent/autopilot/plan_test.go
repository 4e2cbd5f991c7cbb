package autopilot

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	ap "github.com/hashicorp/raft-autopilot"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// srv describes one server of a test state compactly.
type srv struct {
	id      string
	state   ap.RaftState
	status  ap.NodeStatus
	healthy bool
	stable  time.Duration // healthy/unhealthy for this long before now
	zone    string
	failed  time.Duration // failed for this long before now (0: not failed)
}

func mkState(now time.Time, servers ...srv) *ap.State {
	st := &ap.State{Servers: map[raft.ServerID]*ap.ServerState{}}
	for _, s := range servers {
		ext := &serverExt{Zone: s.zone}
		if s.failed > 0 {
			ext.FailedSince = now.Add(-s.failed)
		}
		status := s.status
		if status == "" {
			status = ap.NodeAlive
		}
		st.Servers[raft.ServerID(s.id)] = &ap.ServerState{
			Server: ap.Server{ID: raft.ServerID(s.id), NodeStatus: status, Ext: ext},
			State:  s.state,
			Health: ap.ServerHealth{Healthy: s.healthy, StableSince: now.Add(-s.stable)},
		}
		if s.state == ap.RaftLeader {
			st.Leader = raft.ServerID(s.id)
		}
	}
	return st
}

func ids(list []raft.ServerID) []string {
	out := make([]string, len(list))
	for i, id := range list {
		out[i] = string(id)
	}
	slices.Sort(out)
	return out
}

func TestPlanVoters(t *testing.T) {
	const stab = 10 * time.Second
	healthy := func(id string, st ap.RaftState, zone string) srv {
		return srv{id: id, state: st, healthy: true, stable: time.Minute, zone: zone}
	}
	cases := map[string]struct {
		settings Settings
		servers  []srv
		promote  []string
		demote   []string
	}{
		"new stable non-voter is promoted": {
			settings: Settings{MaxVoters: 5},
			servers: []srv{healthy("a", ap.RaftLeader, ""), healthy("b", ap.RaftVoter, ""), healthy("c", ap.RaftVoter, ""),
				healthy("d", ap.RaftNonVoter, "")},
			promote: []string{"d"},
		},
		"non-voter not yet stable waits": {
			settings: Settings{MaxVoters: 5},
			servers: []srv{healthy("a", ap.RaftLeader, ""),
				{id: "d", state: ap.RaftNonVoter, healthy: true, stable: time.Second}},
		},
		"cap of three leaves two non-voters": {
			settings: Settings{MaxVoters: 3},
			servers: []srv{healthy("a", ap.RaftLeader, ""), healthy("b", ap.RaftNonVoter, ""), healthy("c", ap.RaftNonVoter, ""),
				healthy("d", ap.RaftNonVoter, ""), healthy("e", ap.RaftNonVoter, "")},
			promote: []string{"b", "c"},
		},
		"dead voter replaced by a healthy non-voter": {
			settings: Settings{MaxVoters: 3},
			servers: []srv{healthy("a", ap.RaftLeader, ""), healthy("b", ap.RaftVoter, ""),
				{id: "c", state: ap.RaftVoter, status: ap.NodeFailed, failed: time.Second},
				healthy("d", ap.RaftNonVoter, "")},
			promote: []string{"d"},
			demote:  []string{"c"},
		},
		"two failed voters: promote, but demote nobody (a live quorum must remain)": {
			// Found by the chaos suite: c was still marked failed after a
			// partition when b died for good and d joined. Demoting c first
			// (raft-autopilot does, with an odd voter count) left a and the
			// dead b as the only voters: no leader, ever again.
			settings: Settings{MaxVoters: 3, MinQuorum: 3},
			servers: []srv{healthy("a", ap.RaftLeader, ""),
				{id: "b", state: ap.RaftVoter, status: ap.NodeFailed, failed: time.Second},
				{id: "c", state: ap.RaftVoter, status: ap.NodeFailed, failed: 2 * time.Second},
				healthy("d", ap.RaftNonVoter, "")},
			promote: []string{"d"},
		},
		"dead voter without replacement stays": {
			settings: Settings{MaxVoters: 3},
			servers: []srv{healthy("a", ap.RaftLeader, ""), healthy("b", ap.RaftVoter, ""),
				{id: "c", state: ap.RaftVoter, status: ap.NodeFailed, failed: time.Second}},
		},
		"briefly unhealthy voter is not replaced": {
			settings: Settings{MaxVoters: 3},
			servers: []srv{healthy("a", ap.RaftLeader, ""), healthy("b", ap.RaftVoter, ""),
				{id: "c", state: ap.RaftVoter, healthy: false, stable: time.Second},
				healthy("d", ap.RaftNonVoter, "")},
		},
		"room under the cap needs no demotion": {
			settings: Settings{MaxVoters: 5},
			servers: []srv{healthy("a", ap.RaftLeader, ""), healthy("b", ap.RaftVoter, ""),
				{id: "c", state: ap.RaftVoter, status: ap.NodeFailed, failed: time.Second},
				healthy("d", ap.RaftNonVoter, "")},
			promote: []string{"d"},
		},
		"promotion prefers a zone without voters": {
			settings: Settings{MaxVoters: 3},
			servers: []srv{healthy("a", ap.RaftLeader, "z1"), healthy("b", ap.RaftVoter, "z1"),
				{id: "c", state: ap.RaftNonVoter, healthy: true, stable: time.Hour, zone: "z1"},
				healthy("d", ap.RaftNonVoter, "z2")},
			promote: []string{"d"},
		},
		"at the cap a crowded zone gives a seat to an empty one": {
			settings: Settings{MaxVoters: 3},
			servers: []srv{healthy("a", ap.RaftLeader, "z1"), healthy("b", ap.RaftVoter, "z1"), healthy("c", ap.RaftVoter, "z2"),
				healthy("d", ap.RaftNonVoter, "z3")},
			promote: []string{"d"},
			demote:  []string{"b"},
		},
		"lowered cap demotes, never the leader, never below min quorum": {
			settings: Settings{MaxVoters: 1, MinQuorum: 2},
			servers:  []srv{healthy("a", ap.RaftLeader, ""), healthy("b", ap.RaftVoter, ""), healthy("c", ap.RaftVoter, "")},
			demote:   []string{"c"},
		},
		"dead non-voter is never promoted": {
			settings: Settings{MaxVoters: 5},
			servers: []srv{healthy("a", ap.RaftLeader, ""),
				{id: "d", state: ap.RaftNonVoter, status: ap.NodeFailed, healthy: true, stable: time.Hour}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := planVoters(tc.settings, mkState(t0, tc.servers...), t0, stab)
			if p := ids(got.Promotions); !slices.Equal(p, sorted(tc.promote)) {
				t.Errorf("promotions = %v, want %v", p, tc.promote)
			}
			if d := ids(got.Demotions); !slices.Equal(d, sorted(tc.demote)) {
				t.Errorf("demotions = %v, want %v", d, tc.demote)
			}
		})
	}
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	slices.Sort(out)
	if out == nil {
		return []string{}
	}
	return out
}

func TestFilterRemovals(t *testing.T) {
	settings := Settings{DeadServerReapAfter: 30 * time.Second}
	now := t0
	// Eight voters (the failed ones below, g, and the healthy h and i): up
	// to three may go in one pass, so only the reap rules decide here.
	voter := func(id string) srv { return srv{id: id, state: ap.RaftVoter, healthy: true, stable: time.Hour} }
	st := mkState(now, srv{id: "a", state: ap.RaftLeader}, voter("b"), voter("c"), voter("d"), voter("e"),
		voter("g"), voter("h"), voter("i"), srv{id: "f", state: ap.RaftNonVoter})
	mk := func(id string, status ap.NodeStatus, failedFor time.Duration) *ap.Server {
		return &ap.Server{ID: raft.ServerID(id), NodeStatus: status, Ext: &serverExt{FailedSince: now.Add(-failedFor)}}
	}
	failed := &ap.FailedServers{
		FailedVoters: []*ap.Server{
			mk("a", ap.NodeFailed, time.Hour),      // the leader: never
			mk("b", ap.NodeFailed, 29*time.Second), // too recent
			mk("c", ap.NodeFailed, 30*time.Second), // due
			mk("d", ap.NodeLeft, 0),                // left: at once
			{ID: "e", NodeStatus: ap.NodeFailed},   // no failure time: never
		},
		FailedNonVoters: []*ap.Server{mk("f", ap.NodeFailed, time.Minute)},
		StaleVoters:     []raft.ServerID{"a", "g"},
	}
	got := filterRemovals(settings, st, failed, now)
	var voters []raft.ServerID
	for _, s := range got.FailedVoters {
		voters = append(voters, s.ID)
	}
	if v := ids(voters); !slices.Equal(v, []string{"c", "d"}) {
		t.Errorf("removable voters = %v, want [c d]", v)
	}
	if len(got.FailedNonVoters) != 1 || got.FailedNonVoters[0].ID != "f" {
		t.Errorf("removable non-voters = %v, want [f]", got.FailedNonVoters)
	}
	if v := ids(got.StaleVoters); !slices.Equal(v, []string{"g"}) {
		t.Errorf("stale voters = %v, want [g]", v)
	}
}

// offered lists the servers of a state that are not alive as raft-autopilot
// offers them to the filter: by suffrage, sorted by ID.
func offered(st *ap.State) *ap.FailedServers {
	failed := &ap.FailedServers{}
	for _, s := range st.Servers {
		if s.Server.NodeStatus == ap.NodeAlive {
			continue
		}
		server := s.Server
		if s.HasVotingRights() {
			failed.FailedVoters = append(failed.FailedVoters, &server)
		} else {
			failed.FailedNonVoters = append(failed.FailedNonVoters, &server)
		}
	}
	byID := func(a, b *ap.Server) int { return strings.Compare(string(a.ID), string(b.ID)) }
	slices.SortFunc(failed.FailedVoters, byID)
	slices.SortFunc(failed.FailedNonVoters, byID)
	return failed
}

func TestFilterRemovalsVoterBudget(t *testing.T) {
	leader := srv{id: "a", state: ap.RaftLeader, healthy: true, stable: time.Hour}
	alive := func(id string, st ap.RaftState) srv { return srv{id: id, state: st, healthy: true, stable: time.Hour} }
	dead := func(id string, st ap.RaftState, failedFor time.Duration) srv {
		return srv{id: id, state: st, status: ap.NodeFailed, failed: failedFor}
	}
	cases := map[string]struct {
		minQuorum int
		servers   []srv
		stale     []raft.ServerID
		want      []string // removed voters, in removal order
	}{
		// raft-autopilot counts non-voters as potential voters and would let
		// both dead voters go here, leaving one voter of three.
		"non-voters do not widen the majority cap": {
			servers: []srv{leader, dead("b", ap.RaftVoter, time.Hour), dead("c", ap.RaftVoter, 2*time.Hour),
				alive("d", ap.RaftNonVoter), alive("e", ap.RaftNonVoter)},
			want: []string{"c"},
		},
		// ... and would remove b here, leaving two voters with min_quorum 3.
		"non-voters do not count toward min quorum": {
			minQuorum: 3,
			servers: []srv{leader, dead("b", ap.RaftVoter, time.Hour), alive("c", ap.RaftVoter),
				alive("d", ap.RaftNonVoter), alive("e", ap.RaftNonVoter)},
		},
		"min quorum caps below the majority cap": {
			minQuorum: 4,
			servers: []srv{leader, alive("b", ap.RaftVoter), dead("c", ap.RaftVoter, time.Hour),
				dead("d", ap.RaftVoter, 3*time.Hour), dead("e", ap.RaftVoter, 2*time.Hour)},
			want: []string{"d"},
		},
		"members that left go first, then the longest failed": {
			servers: []srv{leader, alive("b", ap.RaftVoter), alive("c", ap.RaftVoter), alive("d", ap.RaftVoter),
				dead("e", ap.RaftVoter, time.Hour), dead("f", ap.RaftVoter, 2*time.Hour),
				{id: "g", state: ap.RaftVoter, status: ap.NodeLeft, failed: time.Second}},
			want: []string{"g", "f", "e"},
		},
		"stale voters use the budget first": {
			servers: []srv{leader, alive("b", ap.RaftVoter), dead("c", ap.RaftVoter, time.Hour)},
			stale:   []raft.ServerID{"x"},
			want:    []string{"x"},
		},
		"a non-voter goes when no voter may": {
			servers: []srv{leader, dead("b", ap.RaftNonVoter, time.Hour)},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			st := mkState(t0, tc.servers...)
			failed := offered(st)
			failed.StaleVoters = tc.stale
			got := filterRemovals(Settings{MinQuorum: tc.minQuorum}, st, failed, t0)
			removed := slices.Clone(got.StaleVoters)
			for _, s := range got.FailedVoters {
				removed = append(removed, s.ID)
			}
			if r := ids(removed); !slices.Equal(r, sorted(tc.want)) {
				t.Fatalf("removed voters %v, want %v", r, tc.want)
			}
			for i, s := range got.FailedVoters {
				if want := tc.want[len(got.StaleVoters)+i]; string(s.ID) != want {
					t.Errorf("removal %d is %s, want %s (order %v)", i, s.ID, want, tc.want)
				}
			}
			for _, s := range failed.FailedNonVoters {
				if !slices.Contains(got.FailedNonVoters, s) {
					t.Errorf("failed non-voter %s held back", s.ID)
				}
			}
		})
	}
}
