package agent

import (
	"errors"
	"strings"
	"testing"

	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/raftnode"
)

func TestOperatorRefusals(t *testing.T) {
	one := []raftnode.Server{{ID: "node1", Suffrage: "voter"}}
	three := []raftnode.Server{{ID: "node1", Suffrage: "voter"}, {ID: "node2", Suffrage: "voter"}, {ID: "node3", Suffrage: "nonvoter"}}
	withLearner := []raftnode.Server{{ID: "node1", Suffrage: "voter"}, {ID: "node3", Suffrage: "nonvoter"}}
	cases := map[string]struct {
		err      error
		kind     error
		contains string
	}{
		"remove unknown":              {removeRefusal(three, "node9"), httpapi.ErrNotFound, `"node9" is not in the raft configuration`},
		"remove the only voter":       {removeRefusal(one, "node1"), httpapi.ErrConflict, "node1 is the only voter"},
		"remove only voter, learners": {removeRefusal(withLearner, "node1"), httpapi.ErrConflict, "only voter"},
		"remove a voter":              {removeRefusal(three, "node2"), nil, ""},
		"remove the leader":           {removeRefusal(three, "node1"), nil, ""},
		"remove a nonvoter":           {removeRefusal(withLearner, "node3"), nil, ""},
		"transfer to unknown":         {transferRefusal(three, "node1", "node9"), httpapi.ErrNotFound, `"node9" is not in the raft configuration`},
		"transfer to self":            {transferRefusal(three, "node1", "node1"), httpapi.ErrConflict, "node1 is already the leader"},
		"transfer to a nonvoter":      {transferRefusal(three, "node1", "node3"), httpapi.ErrConflict, "node3 is a nonvoter"},
		"transfer on one node":        {transferRefusal(one, "node1", ""), httpapi.ErrConflict, "no other voter"},
		"transfer, only learners":     {transferRefusal(withLearner, "node1", ""), httpapi.ErrConflict, "no other voter"},
		"transfer to a voter":         {transferRefusal(three, "node1", "node2"), nil, ""},
		"transfer to any voter":       {transferRefusal(three, "node1", ""), nil, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if tc.kind == nil {
				if tc.err != nil {
					t.Fatalf("refused: %v", tc.err)
				}
				return
			}
			if !errors.Is(tc.err, tc.kind) || !strings.Contains(tc.err.Error(), tc.contains) {
				t.Fatalf("got %v, want %v containing %q", tc.err, tc.kind, tc.contains)
			}
		})
	}
}

func TestOnlyConfiguredDropsPrunedServers(t *testing.T) {
	h := httpapi.AutopilotHealth{
		Voters:  []string{"a", "b", "gone"},
		Servers: []httpapi.AutopilotServer{{ID: "a"}, {ID: "b"}, {ID: "gone"}, {ID: "learner"}},
	}
	conf := []raftnode.Server{{ID: "a", Suffrage: "voter"}, {ID: "b", Suffrage: "voter"}, {ID: "learner", Suffrage: "nonvoter"}}
	got := onlyConfigured(h, conf)
	var ids []string
	for _, s := range got.Servers {
		ids = append(ids, s.ID)
	}
	if strings.Join(ids, ",") != "a,b,learner" || strings.Join(got.Voters, ",") != "a,b" {
		t.Fatalf("servers %v, voters %v; want a,b,learner and a,b", ids, got.Voters)
	}
	if len(h.Servers) != 4 {
		t.Fatal("the input was changed")
	}
	if empty := onlyConfigured(httpapi.AutopilotHealth{Servers: []httpapi.AutopilotServer{}, Voters: []string{}}, conf); empty.Servers == nil || empty.Voters == nil {
		t.Fatal("empty lists must stay empty lists, not null in JSON")
	}
}
