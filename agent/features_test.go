package agent

import (
	"reflect"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent/kv"
	"github.com/clusteragent/agent/raftnode"
)

func TestServersLacking(t *testing.T) {
	const other = uint64(1) << 5
	tests := map[string]struct {
		servers    []string
		advertised map[string]uint64
		need       uint64
		want       []string
	}{
		"nothing needed":        {[]string{"a", "b"}, nil, 0, nil},
		"all new":               {[]string{"a", "b", "c"}, map[string]uint64{"a": featureLeases, "b": featureLeases | other, "c": featureLeases}, featureLeases, nil},
		"one old":               {[]string{"a", "b", "c"}, map[string]uint64{"a": featureLeases, "b": 0, "c": featureLeases}, featureLeases, []string{"b"}},
		"unknown counts as old": {[]string{"c", "a", "b"}, map[string]uint64{"a": featureLeases}, featureLeases, []string{"b", "c"}},
		"other feature only":    {[]string{"a"}, map[string]uint64{"a": other}, featureLeases, []string{"a"}},
		"needs both":            {[]string{"a", "b"}, map[string]uint64{"a": other | featureLeases, "b": featureLeases}, featureLeases | other, []string{"b"}},
		"gossip beyond config":  {[]string{"a"}, map[string]uint64{"a": featureLeases, "z": 0}, featureLeases, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := serversLacking(tc.servers, tc.advertised, tc.need); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("serversLacking = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRequiredFeatures(t *testing.T) {
	must := func(m raftnode.Mutation, err error) raftnode.Mutation {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	cas := uint64(0)
	tests := map[string]struct {
		m    raftnode.Mutation
		want uint64
	}{
		"put":            {must(kv.PutMutation("k", []byte("v"), nil)), 0},
		"put cas":        {must(kv.PutMutation("k", []byte("v"), &cas)), 0},
		"delete":         {must(kv.DeleteMutation("k", nil)), 0},
		"put on a lease": {must(kv.PutLeaseMutation("k", []byte("v"), &cas, 7)), featureLeases},
		"grant":          {must(kv.LeaseGrantMutation(10 * time.Second)), featureLeases},
		"revoke":         {kv.LeaseRevokeMutation(7), featureLeases},
		"other type":     {raftnode.Mutation{Type: "app.thing"}, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := requiredFeatures(tc.m); got != tc.want {
				t.Fatalf("requiredFeatures = %b, want %b", got, tc.want)
			}
		})
	}
	if localFeatures&featureLeases == 0 {
		t.Fatal("this version must advertise leases")
	}
}
