package main

import "testing"

func TestGossipTallyLine(t *testing.T) {
	var g gossipTally
	for _, s := range []string{
		"2026-12-04T20:24:26.253Z [WARN]  agent.gossip: member failed: member=c100 addr=127.0.0.1:30794",
		"2026-12-04T20:24:26.253Z [WARN]  agent.gossip: member failed: member=c10 addr=127.0.0.1:30795",
		"2026-12-04T20:24:11.073Z [WARN]  agent.gossip: memberlist: Refuting a suspect message (from: c93)",
		"2026-12-04T20:24:11.073Z [WARN]  agent.gossip: something else",
	} {
		g.line(s, "c100")
	}
	if g.falseDeaths != 1 || g.refutations != 1 {
		t.Errorf("tally %+v, want one false death (c10, not the killed c100) and one refutation", g)
	}
}
