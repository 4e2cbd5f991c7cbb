package raftnode

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clusteragent/agent/raftnode/raftnodetest"
)

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	valid := func() Options {
		return Options{NodeID: "a", BindAddr: "127.0.0.1:0", DataDir: "/tmp/x", FSM: raftnodetest.NewFSM()}
	}
	cases := map[string]struct {
		mutate func(*Options)
		field  string // "" means valid
	}{
		"valid":                {func(*Options) {}, ""},
		"valid multiplier 10":  {func(o *Options) { o.Multiplier = 10 }, ""},
		"valid loopback":       {func(o *Options) { o.SetLoopbackTimers() }, ""},
		"no node id":           {func(o *Options) { o.NodeID = "" }, "NodeID"},
		"node id with space":   {func(o *Options) { o.NodeID = "a b" }, "NodeID"},
		"node id too long":     {func(o *Options) { o.NodeID = strings.Repeat("x", 129) }, "NodeID"},
		"no data dir":          {func(o *Options) { o.DataDir = "" }, "DataDir"},
		"no fsm":               {func(o *Options) { o.FSM = nil }, "FSM"},
		"no bind":              {func(o *Options) { o.BindAddr = "" }, "BindAddr"},
		"bad bind":             {func(o *Options) { o.BindAddr = "localhost" }, "BindAddr"},
		"bad bind port":        {func(o *Options) { o.BindAddr = "127.0.0.1:99999" }, "BindAddr"},
		"advertise 0.0.0.0":    {func(o *Options) { o.AdvertiseAddr = "0.0.0.0:7000" }, "AdvertiseAddr"},
		"advertise no port":    {func(o *Options) { o.AdvertiseAddr = "10.0.0.1" }, "AdvertiseAddr"},
		"peer no port":         {func(o *Options) { o.Peers = map[string]string{"b": "10.0.0.2"} }, `Peers["b"]`},
		"peer port 0":          {func(o *Options) { o.Peers = map[string]string{"b": "10.0.0.2:0"} }, `Peers["b"]`},
		"peer empty id":        {func(o *Options) { o.Peers = map[string]string{"": "10.0.0.2:1"} }, "Peers key"},
		"peer unspecified":     {func(o *Options) { o.Peers = map[string]string{"b": "[::]:7000"} }, `Peers["b"]`},
		"peers share address":  {func(o *Options) { o.Peers = map[string]string{"b": "10.0.0.2:1", "c": "10.0.0.2:1"} }, "share the address"},
		"join and preferred":   {func(o *Options) { o.JoinOnly, o.BootstrapPreferred = true, true }, "JoinOnly"},
		"multiplier negative":  {func(o *Options) { o.Multiplier = -1 }, "Multiplier"},
		"multiplier too big":   {func(o *Options) { o.Multiplier = 11 }, "Multiplier"},
		"negative heartbeat":   {func(o *Options) { o.HeartbeatTimeout = -time.Second }, "HeartbeatTimeout"},
		"negative retain":      {func(o *Options) { o.SnapshotRetain = -1 }, "SnapshotRetain"},
		"lease over heartbeat": {func(o *Options) { o.LeaderLeaseTimeout = 2 * time.Second }, "LeaderLeaseTimeout"},
		"election < heartbeat": {func(o *Options) { o.HeartbeatTimeout = 3 * time.Second }, "ElectionTimeout"},
		"tiny heartbeat": {func(o *Options) {
			o.HeartbeatTimeout, o.ElectionTimeout, o.LeaderLeaseTimeout = time.Millisecond, time.Millisecond, time.Millisecond
		}, "HeartbeatTimeout"},
		"listener replaces bind": {func(o *Options) { o.BindAddr, o.Listener = "", fakeListener{} }, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			o := valid()
			tc.mutate(&o)
			err := o.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("want an ErrInvalidOptions naming %s, got %v", tc.field, err)
			}
		})
	}
}

func TestOptionsDefaultsAndMultiplier(t *testing.T) {
	t.Parallel()
	o := Options{Multiplier: 3, ElectionTimeout: 7 * time.Second}.withDefaults()
	if o.HeartbeatTimeout != 3*LANHeartbeatTimeout || o.LeaderLeaseTimeout != 3*LANLeaderLeaseTimeout {
		t.Fatalf("multiplier not applied: %+v", o)
	}
	if o.ElectionTimeout != 7*time.Second {
		t.Fatalf("override lost: %s", o.ElectionTimeout)
	}
	if o.CommitTimeout != DefaultCommitTimeout || o.SnapshotRetain != 2 || o.SnapshotThreshold != 8192 ||
		o.TrailingLogs != 10240 || o.SnapshotInterval != 30*time.Second || o.Logger == nil {
		t.Fatalf("defaults not applied: %+v", o)
	}
}

func TestPlanBootstrap(t *testing.T) {
	t.Parallel()
	three := map[string]string{"a": "10.0.0.1:7000", "b": "10.0.0.2:7000", "c": "10.0.0.3:7000"}
	cases := map[string]struct {
		opts     Options
		hasState bool
		want     []string // voter IDs; nil: no bootstrap
	}{
		"existing state wins over everything": {Options{NodeID: "a", Peers: three, BootstrapPreferred: true}, true, nil},
		"join only":                           {Options{NodeID: "a", Peers: three, JoinOnly: true}, false, nil},
		"no peers":                            {Options{NodeID: "a"}, false, nil},
		"preferred alone":                     {Options{NodeID: "z", BootstrapPreferred: true}, false, []string{"z"}},
		"preferred with peers":                {Options{NodeID: "z", Peers: three, BootstrapPreferred: true}, false, []string{"a", "b", "c", "z"}},
		"peers only self":                     {Options{NodeID: "b", Peers: map[string]string{"b": "x:1"}}, false, []string{"b"}},
		"lowest of three":                     {Options{NodeID: "a", Peers: three}, false, []string{"a", "b", "c"}},
		"middle of three":                     {Options{NodeID: "b", Peers: three}, false, nil},
		"highest of three":                    {Options{NodeID: "c", Peers: three}, false, nil},
		"peers without self":                  {Options{NodeID: "0", Peers: three}, false, nil},
		"byte order not numeric": {Options{NodeID: "node10", Peers: map[string]string{
			"node10": "h:1", "node9": "h:2"}}, false, []string{"node10", "node9"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			servers, reason := planBootstrap(&tc.opts, "self:1", tc.hasState)
			var got []string
			for _, s := range servers {
				if s.Suffrage != raft.Voter {
					t.Fatalf("%s is not a voter", s.ID)
				}
				if string(s.ID) == tc.opts.NodeID && s.Address != "self:1" {
					t.Fatalf("self has address %s, want the advertised one", s.Address)
				}
				got = append(got, string(s.ID))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v (%s), want %v", got, reason, tc.want)
			}
			if reason == "" {
				t.Fatal("empty reason")
			}
		})
	}
}

func TestBootstrapServersValidation(t *testing.T) {
	t.Parallel()
	cases := map[string][]Server{
		"empty":           nil,
		"without self":    {{ID: "b", Address: "h:1"}},
		"duplicate id":    {{ID: "a", Address: "h:1"}, {ID: "a", Address: "h:2"}},
		"duplicate addr":  {{ID: "a", Address: "h:1"}, {ID: "b", Address: "h:1"}},
		"bad address":     {{ID: "a", Address: "nope"}},
		"id with a space": {{ID: "a", Address: "h:1"}, {ID: "b c", Address: "h:2"}},
	}
	for name, servers := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := bootstrapServers("a", servers); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("want ErrInvalidArgument, got %v", err)
			}
		})
	}
	got, err := bootstrapServers("a", []Server{{ID: "a", Address: "h:1", Suffrage: "nonvoter"}, {ID: "b", Address: "h:2"}})
	if err != nil || len(got) != 2 || got[0].Suffrage != raft.Voter || got[1].Suffrage != raft.Voter {
		t.Fatalf("all servers should become voters: %v %v", got, err)
	}
}
