package agent

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/discovery"
	"github.com/clusteragent/agent/internal/clock"
	"github.com/clusteragent/agent/raftnode"
)

func voterList(pairs ...string) []raftnode.Server {
	var out []raftnode.Server
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, raftnode.Server{ID: pairs[i], Address: pairs[i+1], Suffrage: "voter"})
	}
	return out
}

func TestPlanExpect(t *testing.T) {
	t.Parallel()
	srv := func(id string) discovery.Member { return server(id, id+":7000", discovery.StatusAlive) }
	cases := map[string]struct {
		self    string
		servers []discovery.Member
		expect  int
		want    []raftnode.Server
		wantErr string
	}{
		"too few":              {self: "a", servers: []discovery.Member{srv("a"), srv("b")}, expect: 3, wantErr: "2 of 3 servers"},
		"none visible":         {self: "a", expect: 0, wantErr: "0 of 0 servers"},
		"lowest bootstraps":    {self: "a", servers: []discovery.Member{srv("a"), srv("b"), srv("c")}, expect: 3, want: voterList("a", "a:7000", "b", "b:7000", "c", "c:7000")},
		"another is lowest":    {self: "b", servers: []discovery.Member{srv("a"), srv("b"), srv("c")}, expect: 3, wantErr: "a has the lowest ID"},
		"more than expected":   {self: "a", servers: []discovery.Member{srv("a"), srv("b"), srv("c"), srv("d")}, expect: 3, want: voterList("a", "a:7000", "b", "b:7000", "c", "c:7000", "d", "d:7000")},
		"single expected node": {self: "a", servers: []discovery.Member{srv("a")}, expect: 1, want: voterList("a", "a:7000")},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := planExpect(tc.self, tc.servers, tc.expect)
			checkPlan(t, got, err, tc.want, tc.wantErr)
		})
	}
}

func TestPlanStatic(t *testing.T) {
	t.Parallel()
	peers := map[string]string{"b": "b:7000", "c": "c:7000"}
	cases := map[string]struct {
		self      string
		peers     map[string]string
		preferred bool
		want      []raftnode.Server
		wantErr   string
	}{
		"alone":                         {self: "a", want: voterList("a", "self:7000")},
		"lowest bootstraps all":         {self: "a", peers: peers, want: voterList("a", "self:7000", "b", "b:7000", "c", "c:7000")},
		"another is lowest":             {self: "d", peers: peers, wantErr: "b has the lowest ID"},
		"preferred, not lowest":         {self: "d", peers: peers, preferred: true, want: voterList("b", "b:7000", "c", "c:7000", "d", "self:7000")},
		"own entry uses own address":    {self: "b", peers: map[string]string{"b": "old:1", "c": "c:7000"}, want: voterList("b", "self:7000", "c", "c:7000")},
		"preferred alone, no peers set": {self: "z", preferred: true, want: voterList("z", "self:7000")},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := planStatic(tc.self, "self:7000", tc.peers, tc.preferred)
			checkPlan(t, got, err, tc.want, tc.wantErr)
		})
	}
}

func checkPlan(t *testing.T, got []raftnode.Server, err error, want []raftnode.Server, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want one containing %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("voters = %v, want %v", got, want)
	}
}

func TestFreshServers(t *testing.T) {
	t.Parallel()
	client := server("k", "", discovery.StatusAlive)
	client.Meta.Role = discovery.RoleClient
	withState := server("s", "s:7000", discovery.StatusAlive)
	withState.Meta.ClusterID, withState.Meta.HasState = "", true
	fresh := func(id string, st discovery.Status) discovery.Member {
		m := server(id, id+":7000", st)
		m.Meta.ClusterID = ""
		return m
	}
	selfWithID := server("a", "a:7000", discovery.StatusAlive) // our own cluster ID never blocks us
	cases := map[string]struct {
		members     []discovery.Member
		wantIDs     []string
		wantSettled string
	}{
		"sorted, alive servers only": {members: []discovery.Member{fresh("c", discovery.StatusAlive), client, fresh("b", discovery.StatusDead), fresh("a", discovery.StatusAlive)}, wantIDs: []string{"a", "c"}},
		"another has a cluster":      {members: []discovery.Member{fresh("a", discovery.StatusAlive), server("b", "b:7000", discovery.StatusAlive)}, wantSettled: "b"},
		"another has raft state":     {members: []discovery.Member{fresh("a", discovery.StatusAlive), withState}, wantSettled: "s"},
		"a dead one with a cluster":  {members: []discovery.Member{fresh("a", discovery.StatusAlive), server("b", "b:7000", discovery.StatusDead)}, wantIDs: []string{"a"}},
		"self with a cluster ID":     {members: []discovery.Member{selfWithID, fresh("b", discovery.StatusAlive)}, wantIDs: []string{"a", "b"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, settled := freshServers("a", tc.members)
			if tc.wantSettled != "" {
				if settled == nil || settled.ID != tc.wantSettled {
					t.Fatalf("settled by %v, want %s", settled, tc.wantSettled)
				}
				return
			}
			if settled != nil {
				t.Fatalf("settled by %s, want none", settled.ID)
			}
			var ids []string
			for _, m := range got {
				ids = append(ids, m.ID)
			}
			if !reflect.DeepEqual(ids, tc.wantIDs) {
				t.Errorf("ids = %v, want %v", ids, tc.wantIDs)
			}
		})
	}
}

type fakeBootstrapRaft struct {
	mu     sync.Mutex
	voters []raftnode.Server
}

func (f *fakeBootstrapRaft) HasState() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.voters != nil
}

func (f *fakeBootstrapRaft) Bootstrap(v []raftnode.Server) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.voters = v
	return nil
}

func (f *fakeBootstrapRaft) Addr() string { return "a:7000" }

// fakeStats answers for each server as the map says; absent ones fail.
type fakeStats map[string]httpapi.ServerStats

func (f fakeStats) Stats(_ context.Context, raftAddr string) (httpapi.ServerStats, error) {
	st, ok := f[raftAddr]
	if !ok {
		return httpapi.ServerStats{}, errors.New("connection refused")
	}
	return st, nil
}

// TestBootstrapperRun: the bootstrap duty with its inputs faked: it
// bootstraps once every peer answers fresh, and settles without
// bootstrapping when a peer already has Raft state.
func TestBootstrapperRun(t *testing.T) {
	t.Parallel()
	members := fakeMembers{members: []discovery.Member{
		server("a", "a:7000", discovery.StatusAlive), server("b", "b:7000", discovery.StatusAlive), server("c", "c:7000", discovery.StatusAlive),
	}}
	for i := range members.members {
		members.members[i].Meta.ClusterID = ""
	}
	fresh := fakeStats{"b:7000": {NodeID: "b", ServerIDs: []string{"a", "b", "c"}}, "c:7000": {NodeID: "c", ServerIDs: []string{"a", "b", "c"}}}
	withState := fakeStats{"b:7000": {NodeID: "b", HasState: true}, "c:7000": {NodeID: "c"}}
	cases := map[string]struct {
		stats      fakeStats
		wantVoters []string
	}{
		"all fresh: bootstraps all three": {stats: fresh, wantVoters: []string{"a", "b", "c"}},
		"a peer has state: settles":       {stats: withState},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := &fakeBootstrapRaft{}
			b := &bootstrapper{self: "a", mode: bootstrapExpect, expect: 3, raft: r, members: members, stats: tc.stats,
				clusterID: func() string { return "" }, clock: clock.NewFake(time.Unix(0, 0)), interval: time.Hour, logger: hclog.NewNullLogger()}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := b.Run(ctx); err != nil {
				t.Fatalf("Run = %v, want it to settle", err)
			}
			var ids []string
			for _, v := range r.voters {
				ids = append(ids, v.ID)
			}
			if !reflect.DeepEqual(ids, tc.wantVoters) {
				t.Errorf("bootstrapped %v, want %v", ids, tc.wantVoters)
			}
		})
	}
	t.Run("waiting ends with ctx", func(t *testing.T) {
		b := &bootstrapper{self: "a", mode: bootstrapExpect, expect: 4, raft: &fakeBootstrapRaft{}, members: members, stats: fresh,
			clusterID: func() string { return "" }, clock: clock.NewFake(time.Unix(0, 0)), interval: time.Hour, logger: hclog.NewNullLogger()}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := b.Run(ctx); err != context.Canceled {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	})
}
