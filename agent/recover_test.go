package agent

import (
	"errors"
	"reflect"
	"testing"

	"github.com/clusteragent/agent/raftnode"
)

func TestPlanRecovery(t *testing.T) {
	last := raftnode.Configuration{Servers: []raftnode.Server{
		{ID: "n1", Address: "10.0.0.1:7000", Suffrage: "voter"},
		{ID: "n2", Address: "10.0.0.2:7000", Suffrage: "nonvoter"},
	}}
	cases := map[string]struct {
		node    string
		peers   map[string]string
		want    []raftnode.Server
		wantErr bool
	}{
		"default: alone at the last address": {node: "n1",
			want: []raftnode.Server{{ID: "n1", Address: "10.0.0.1:7000", Suffrage: "voter"}}},
		"a nonvoter alone becomes a voter": {node: "n2",
			want: []raftnode.Server{{ID: "n2", Address: "10.0.0.2:7000", Suffrage: "voter"}}},
		"default, not in the configuration": {node: "n9", wantErr: true},
		"list, sorted": {node: "n2", peers: map[string]string{"n2": "10.0.0.2:7000", "n1": "10.0.0.1:7000"},
			want: []raftnode.Server{{ID: "n1", Address: "10.0.0.1:7000", Suffrage: "voter"}, {ID: "n2", Address: "10.0.0.2:7000", Suffrage: "voter"}}},
		"list without this node": {node: "n1", peers: map[string]string{"n2": "10.0.0.2:7000"}, wantErr: true},
		"no port":                {node: "n1", peers: map[string]string{"n1": "10.0.0.1"}, wantErr: true},
		"port out of range":      {node: "n1", peers: map[string]string{"n1": "10.0.0.1:70000"}, wantErr: true},
		"no host":                {node: "n1", peers: map[string]string{"n1": ":7000"}, wantErr: true},
		"same address twice":     {node: "n1", peers: map[string]string{"n1": "h:1", "n2": "h:1"}, wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := PlanRecovery(tc.node, last, tc.peers)
			if tc.wantErr {
				if !errors.Is(err, ErrRecovery) {
					t.Errorf("err = %v, want ErrRecovery", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("PlanRecovery = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
