package main

import (
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestClassifyLibraryErrors(t *testing.T) {
	cases := []struct {
		level    hclog.Level
		msg      string
		stopping bool
		act      lineAction
		from     string
	}{
		{hclog.Error, "failed to heartbeat to", false, demote, "raft"},
		{hclog.Error, "failed to appendEntries to", true, demote, "raft"},
		{hclog.Error, "failed to make requestVote RPC", false, demote, "raft"},
		{hclog.Error, "failed to accept connection", true, drop, ""},
		{hclog.Error, "failed to accept connection", false, keep, ""},
		{hclog.Error, "memberlist: Failed to send UDP ping: use of closed network connection", true, drop, ""},
		{hclog.Error, "memberlist: Failed to send UDP ping: use of closed network connection", false, keep, ""},
		{hclog.Error, "failed to decode incoming command", true, drop, ""},
		{hclog.Error, "failed to take snapshot", true, keep, ""},
		{hclog.Error, "shutdown failed", true, keep, ""},
		{hclog.Warn, "failed to heartbeat to", false, keep, ""},
		{hclog.Info, "failed to accept connection", true, keep, ""},
	}
	for _, tc := range cases {
		act, from := classify(tc.level, tc.msg, tc.stopping)
		if act != tc.act || from != tc.from {
			t.Errorf("classify(%s, %q, stopping=%v) = %d %q, want %d %q", tc.level, tc.msg, tc.stopping, act, from, tc.act, tc.from)
		}
	}
}
