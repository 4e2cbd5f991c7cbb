package agent

import (
	"reflect"
	"strings"
	"testing"

	"github.com/clusteragent/agent/discovery"
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
