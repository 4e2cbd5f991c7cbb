package autopilot

import (
	"fmt"
	"math/rand"
	"slices"
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
	st := mkState(now, srv{id: "a", state: ap.RaftLeader})
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

// TestPlanProperties checks the safety rules on random states.
func TestPlanProperties(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	rng := rand.New(rand.NewSource(1))
	statuses := []ap.NodeStatus{ap.NodeAlive, ap.NodeAlive, ap.NodeAlive, ap.NodeFailed, ap.NodeLeft}
	states := []ap.RaftState{ap.RaftVoter, ap.RaftVoter, ap.RaftNonVoter}
	for i := 0; i < n; i++ {
		settings := Settings{MaxVoters: 1 + rng.Intn(7), MinQuorum: rng.Intn(4), DeadServerReapAfter: time.Duration(rng.Intn(60)) * time.Second}
		stab := time.Duration(rng.Intn(20)) * time.Second
		count := 1 + rng.Intn(9)
		servers := []srv{{id: "s0", state: ap.RaftLeader, healthy: true, stable: time.Minute, zone: "z0"}}
		for j := 1; j < count; j++ {
			s := srv{
				id: fmt.Sprintf("s%d", j), state: states[rng.Intn(len(states))], status: statuses[rng.Intn(len(statuses))],
				healthy: rng.Intn(4) > 0, stable: time.Duration(rng.Intn(30)) * time.Second, zone: fmt.Sprintf("z%d", rng.Intn(3)),
			}
			if s.status != ap.NodeAlive {
				s.failed = time.Duration(rng.Intn(90)) * time.Second
			}
			servers = append(servers, s)
		}
		st := mkState(t0, servers...)
		checkPlan(t, i, settings, st, stab)
		checkFilter(t, i, settings, st)
	}
}

func checkPlan(t *testing.T, i int, s Settings, st *ap.State, stab time.Duration) {
	t.Helper()
	ch := planVoters(s, st, t0, stab)
	voters := 0
	for _, srv := range st.Servers {
		if srv.HasVotingRights() {
			voters++
		}
	}
	for _, id := range ch.Promotions {
		srv := st.Servers[id]
		if srv.HasVotingRights() || srv.Server.NodeStatus != ap.NodeAlive || !srv.Health.IsStable(t0, stab) {
			t.Fatalf("case %d: promoted %s which is not a stable alive non-voter: %+v", i, id, srv)
		}
	}
	for _, id := range ch.Demotions {
		if id == st.Leader {
			t.Fatalf("case %d: demoted the leader", i)
		}
		if !st.Servers[id].HasVotingRights() {
			t.Fatalf("case %d: demoted non-voter %s", i, id)
		}
	}
	after := voters + len(ch.Promotions) - len(ch.Demotions)
	if after > max(s.MaxVoters, voters) {
		t.Fatalf("case %d: %d voters after plan, cap %d, before %d", i, after, s.MaxVoters, voters)
	}
	if after < min(voters, max(s.MinQuorum, 1)) {
		t.Fatalf("case %d: plan leaves %d voters, below min quorum %d (before %d)", i, after, s.MinQuorum, voters)
	}
}

func checkFilter(t *testing.T, i int, s Settings, st *ap.State) {
	t.Helper()
	failed := &ap.FailedServers{}
	for _, srv := range st.Servers {
		if srv.Server.NodeStatus == ap.NodeAlive {
			continue
		}
		server := srv.Server
		if srv.HasVotingRights() {
			failed.FailedVoters = append(failed.FailedVoters, &server)
		} else {
			failed.FailedNonVoters = append(failed.FailedNonVoters, &server)
		}
	}
	out := filterRemovals(s, st, failed, t0)
	for _, srv := range append(out.FailedVoters, out.FailedNonVoters...) {
		if srv.ID == st.Leader {
			t.Fatalf("case %d: leader offered for removal", i)
		}
		since := extOf(srv.Ext).FailedSince
		if srv.NodeStatus != ap.NodeLeft && t0.Sub(since) < s.DeadServerReapAfter {
			t.Fatalf("case %d: %s failed %s ago offered before reap delay %s", i, srv.ID, t0.Sub(since), s.DeadServerReapAfter)
		}
	}
}
