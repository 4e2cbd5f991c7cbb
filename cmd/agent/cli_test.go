package main

import (
	"strings"
	"testing"
)

// leafPaths lists every runnable command path, e.g. ["raft", "peers"].
func leafPaths(prefix []string, cmds []*command) [][]string {
	var out [][]string
	for _, c := range cmds {
		p := append(append([]string(nil), prefix...), c.name)
		if c.run != nil {
			out = append(out, p)
		} else {
			out = append(out, p) // groups answer -h too
			out = append(out, leafPaths(p, c.subs)...)
		}
	}
	return out
}

func TestHelpForEveryCommand(t *testing.T) {
	tc := newTestCLI(t)
	paths := append(leafPaths(nil, commands()), []string{})
	for _, p := range paths {
		for _, h := range []string{"-h", "--help", "-help"} {
			args := append(append([]string(nil), p...), h)
			code, out, errOut := tc.run(args...)
			if code != 0 {
				t.Errorf("agent %s: exit %d, want 0 (stderr %q)", strings.Join(args, " "), code, errOut)
				continue
			}
			if !strings.HasPrefix(out, "Usage: agent") {
				t.Errorf("agent %s: help does not start with Usage: %q", strings.Join(args, " "), out)
			}
		}
	}
}

func TestHelpShowsFlags(t *testing.T) {
	tc := newTestCLI(t)
	_, out, _ := tc.run("run", "-h")
	for _, f := range []string{"-config", "-dev", "-node-id", "-data-dir", "-bind", "-advertise", "-gossip-port",
		"-raft-port", "-http-addr", "-join", "-bootstrap-expect", "-peer", "-bootstrap-preferred", "-no-bootstrap",
		"-server", "-zone", "-encrypt", "-log-level", "-log-json", "-leave-on-terminate"} {
		if !strings.Contains(out, "  "+f+" ") && !strings.Contains(out, "  "+f+"\n") {
			t.Errorf("agent run -h does not list %s", f)
		}
	}
	if !strings.Contains(out, `(default "127.0.0.1:7070")`) || !strings.Contains(out, "(default 7946)") {
		t.Errorf("agent run -h does not show defaults:\n%s", out)
	}
	_, out, _ = tc.run("members", "-h")
	for _, f := range []string{"-json", "-http-addr", "-token", "-ca-file"} {
		if !strings.Contains(out, "  "+f) {
			t.Errorf("agent members -h does not list %s", f)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	cases := map[string]struct {
		args []string
		want string
	}{
		"unknown command":    {[]string{"frobnicate"}, `unknown command "frobnicate"`},
		"unknown subcommand": {[]string{"raft", "nope"}, `agent raft: unknown command "nope"`},
		"missing command":    {nil, "missing command"},
		"missing subcommand": {[]string{"tls", "ca"}, "agent tls ca: missing command"},
		"top-level flag":     {[]string{"-x"}, "flag provided but not defined: -x"},
		"bad flag":           {[]string{"members", "-nope"}, "agent members: flag provided but not defined: -nope"},
		"double dash":        {[]string{"members", "--nope"}, "flag provided but not defined: -nope"},
		"bad flag value":     {[]string{"run", "-gossip-port", "abc"}, `invalid value "abc" for flag -gossip-port`},
		"bad peer":           {[]string{"run", "-peer", "n1"}, "want ID=HOST:PORT"},
		"run argument":       {[]string{"run", "extra"}, `unexpected argument "extra"`},
		"remove-peer no id":  {[]string{"raft", "remove-peer"}, "expected exactly one argument"},
		"remove-peer two":    {[]string{"raft", "remove-peer", "a", "b"}, "expected exactly one argument"},
		"transfer two":       {[]string{"raft", "transfer-leadership", "a", "b"}, "at most one argument"},
		"members argument":   {[]string{"members", "x"}, `unexpected argument "x"`},
		"keygen argument":    {[]string{"keygen", "x"}, `unexpected argument "x"`},
		"cert without node":  {[]string{"tls", "cert", "create"}, "-node is required"},
		"cert bad node":      {[]string{"tls", "cert", "create", "-node", "../x"}, "not a valid node ID"},
		"cert bad ip":        {[]string{"tls", "cert", "create", "-node", "n1", "-ip", "nope"}, `-ip "nope" is not an IP`},
		"bad http addr":      {[]string{"members", "-http-addr", "ftp://x"}, "is not HOST:PORT"},
		"migrate no dir":     {[]string{"raft", "migrate-store", "-to", "wal"}, "-data-dir is required"},
		"migrate no to":      {[]string{"raft", "migrate-store", "-data-dir", "d"}, "-to is required"},
		"migrate bad to":     {[]string{"raft", "migrate-store", "-data-dir", "d", "-to", "rocksdb"}, `-to must be wal or boltdb, got "rocksdb"`},
		"migrate argument":   {[]string{"raft", "migrate-store", "-data-dir", "d", "-to", "wal", "x"}, `unexpected argument "x"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := newTestCLI(t)
			code, out, errOut := c.run(tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			oneLine(t, "stderr", errOut)
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q does not contain %q", errOut, tc.want)
			}
		})
	}
}

func TestInterspersedFlags(t *testing.T) {
	fs := newFlagSet("x", "", "")
	v := fs.Bool("v", false, "")
	s := fs.String("s", "", "")
	pos, err := parseInterspersed(fs.FlagSet, []string{"a", "-v", "b", "-s", "z", "--", "-c", "d"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pos, ",") != "a,b,-c,d" || !*v || *s != "z" {
		t.Errorf("positional %q v=%t s=%q", pos, *v, *s)
	}
}
