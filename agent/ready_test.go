package agent

import (
	"testing"
	"time"

	"github.com/clusteragent/agent/raftnode"
)

func TestReadiness(t *testing.T) {
	conf := func(suffrages ...string) raftnode.Configuration {
		var c raftnode.Configuration
		for i, s := range suffrages {
			c.Servers = append(c.Servers, raftnode.Server{ID: "n" + string(rune('1'+i)), Suffrage: s})
		}
		return c
	}
	led := raftnode.Status{LeaderID: "n2", CommitIndex: 10, AppliedIndex: 10}
	cases := map[string]struct {
		st        raftnode.Status
		conf      raftnode.Configuration
		maxVoters int
		ready     bool
	}{
		"voter with a leader, caught up":      {st: led, conf: conf("voter", "voter", "voter"), maxVoters: 5, ready: true},
		"no leader":                           {st: raftnode.Status{CommitIndex: 10, AppliedIndex: 10}, conf: conf("voter", "voter"), maxVoters: 5},
		"behind the commit index":             {st: raftnode.Status{LeaderID: "n2", CommitIndex: 11, AppliedIndex: 10}, conf: conf("voter", "voter"), maxVoters: 5},
		"not in the configuration":            {st: led, conf: raftnode.Configuration{Servers: conf("voter", "voter", "voter").Servers[1:]}, maxVoters: 5},
		"nonvoter, autopilot will promote it": {st: led, conf: conf("nonvoter", "voter", "voter"), maxVoters: 5},
		"staging, autopilot will promote it":  {st: led, conf: conf("staging", "voter", "voter"), maxVoters: 5},
		"nonvoter beyond max_voters":          {st: led, conf: conf("nonvoter", "voter", "voter", "voter"), maxVoters: 3, ready: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := readiness("n1", tc.st, tc.conf, tc.maxVoters)
			if (err == nil) != tc.ready {
				t.Errorf("readiness = %v, want ready %v", err, tc.ready)
			}
		})
	}
}

func TestTombstoneBlocksOnlyTheRemovedIncarnation(t *testing.T) {
	now := time.Unix(1000, 0)
	ts := tombstone{until: now.Add(tombstoneTTL), instance: "aaaa"}
	cases := map[string]struct {
		ts    tombstone
		boot  string
		now   time.Time
		block bool
	}{
		"the incarnation that left":      {ts: ts, boot: "aaaa", now: now, block: true},
		"restarted: a new incarnation":   {ts: ts, boot: "bbbb", now: now},
		"expired":                        {ts: ts, boot: "aaaa", now: now.Add(tombstoneTTL)},
		"older agent, no boot in meta":   {ts: ts, boot: "", now: now, block: true},
		"removed while boot was unknown": {ts: tombstone{until: now.Add(time.Second)}, boot: "bbbb", now: now, block: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := tombstoneBlocks(tc.ts, tc.boot, tc.now); got != tc.block {
				t.Errorf("tombstoneBlocks = %v, want %v", got, tc.block)
			}
		})
	}

	set := newTombstones()
	set.add("n1", "aaaa", now)
	if got, ok := set.get("n1", now); !ok || got.instance != "aaaa" {
		t.Errorf("get = %+v, %v; want the tombstone of aaaa", got, ok)
	}
	if _, ok := set.get("n2", now); ok {
		t.Error("get found a tombstone for a member never removed")
	}
	if _, ok := set.get("n1", now.Add(tombstoneTTL)); ok || len(set.m) != 0 {
		t.Error("an expired tombstone is kept")
	}
}

func TestLeaderHintCaches(t *testing.T) {
	var h leaderHint
	calls := 0
	lookup := func() string { calls++; return "10.0.0.1:7000" }
	now := time.Unix(1000, 0)
	for _, d := range []time.Duration{0, leaderHintTTL / 2, leaderHintTTL - 1} {
		if got := h.get(now.Add(d), lookup); got != "10.0.0.1:7000" {
			t.Fatalf("get = %q", got)
		}
	}
	if calls != 1 {
		t.Errorf("lookups within the TTL: %d, want 1", calls)
	}
	h.get(now.Add(leaderHintTTL), lookup)
	if calls != 2 {
		t.Errorf("lookups after the TTL: %d, want 2", calls)
	}
}
