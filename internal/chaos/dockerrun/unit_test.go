package dockerrun

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// TestRenderConfig parses the generated file as HCL and checks the keys
// the chaos invariants rely on are there with the chosen values.
func TestRenderConfig(t *testing.T) {
	o, err := Options{Servers: 3, LogStore: "boltdb"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	src, err := renderConfig(&o, nodeConfig{ID: "n2", IP: "10.213.7.12", Join: []string{"10.213.7.11", "10.213.7.13"}, BootstrapExpect: 3})
	if err != nil {
		t.Fatal(err)
	}
	file, diags := hclsyntax.ParseConfig(src, "agent.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("generated config does not parse: %v\n%s", diags, src)
	}
	body := file.Body.(*hclsyntax.Body)
	attr := func(b *hclsyntax.Body, name string) string {
		t.Helper()
		a, ok := b.Attributes[name]
		if !ok {
			t.Fatalf("key %s missing from\n%s", name, src)
		}
		return strings.TrimSpace(string(a.SrcRange.SliceBytes(src)[len(name):]))
	}
	block := func(name string) *hclsyntax.Body {
		t.Helper()
		for _, b := range body.Blocks {
			if b.Type == name {
				return b.Body
			}
		}
		t.Fatalf("block %s missing from\n%s", name, src)
		return nil
	}
	want := []struct {
		body      *hclsyntax.Body
		key, want string
	}{
		{body, "node_id", `= "n2"`},
		{body, "bind", `= "0.0.0.0"`},
		{body, "advertise", `= "10.213.7.12"`},
		{body, "join", `= ["10.213.7.11:7946", "10.213.7.13:7946"]`},
		{body, "bootstrap_expect", `= 3`},
		{body, "log_json", `= true`},
		{body, "log_level", `= "info"`},
		{block("ports"), "gossip", `= 7946`},
		{block("ports"), "raft", `= 7000`},
		{block("http"), "addr", `= "0.0.0.0:7070"`},
		{block("gossip"), "profile", `= "lan"`},
		{block("raft"), "multiplier", `= 1`},
		{block("raft"), "log_store", `= "boltdb"`},
		{block("autopilot"), "dead_server_reap_after", `= "3s"`},
		{block("autopilot"), "server_stabilization_time", `= "2s"`},
		{block("autopilot"), "last_contact_threshold", `= "1s"`},
		{block("autopilot"), "min_quorum", `= 3`},
		{block("autopilot"), "max_voters", `= 3`},
	}
	for _, w := range want {
		if got := attr(w.body, w.key); got != w.want {
			t.Errorf("%s %s, want %s", w.key, got, w.want)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	o, err := Options{Servers: 5}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxVoters != 5 || o.MinQuorum != 5 || o.DeadServerReapAfter != 3*time.Second ||
		o.ServerStabilizationTime != 2*time.Second || o.LastContactThreshold != time.Second || o.RaftMultiplier != 1 {
		t.Fatalf("defaults: %+v", o)
	}
	for _, bad := range []Options{
		{Servers: -1},
		{Servers: 3, MaxVoters: 2},
		{Servers: 3, MinQuorum: 4, MaxVoters: 3},
		{RaftMultiplier: 11},
		{DeadServerReapAfter: -time.Second},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v: accepted", bad)
		}
	}
}

func TestIsolated(t *testing.T) {
	known := func(id string) bool { return id != "ghost" }
	cases := []struct {
		groups [][]string
		want   []string
	}{
		{[][]string{{"n1"}, {"n2", "n3"}}, []string{"n1"}},
		{[][]string{{"n2", "n3"}, {"n1"}}, []string{"n1"}},
		{[][]string{{"n1", "n2"}, {"n3", "n4"}}, []string{"n3", "n4"}}, // a tie keeps the first group
		{[][]string{{"n1"}, {"n2"}, {"n3"}}, []string{"n2", "n3"}},
		{[][]string{{"n1", "n2", "n3"}}, nil},
		{nil, nil},
	}
	for _, tc := range cases {
		got, err := isolated(tc.groups, known)
		if err != nil {
			t.Fatalf("%v: %v", tc.groups, err)
		}
		if len(got) != len(tc.want) {
			t.Errorf("%v: isolated %v, want %v", tc.groups, got, tc.want)
		}
		for _, id := range tc.want {
			if !got[id] {
				t.Errorf("%v: isolated %v, want %v", tc.groups, got, tc.want)
			}
		}
	}
	if _, err := isolated([][]string{{"n1"}, {"ghost"}}, known); err == nil {
		t.Error("unknown node accepted")
	}
	if _, err := isolated([][]string{{"n1"}, {"n1", "n2"}}, known); err == nil {
		t.Error("node in two groups accepted")
	}
}

func TestSubnets(t *testing.T) {
	for range 200 {
		s, err := randomSubnet()
		if err != nil {
			t.Fatal(err)
		}
		if s.Bits() != 24 || !overlapsAny(s, subnetPools) {
			t.Fatalf("subnet %s outside %v", s, subnetPools)
		}
	}
	s := netip.MustParsePrefix("10.213.9.0/24")
	if ip, err := nodeIP(s, 1); err != nil || ip.String() != "10.213.9.11" {
		t.Fatalf("n1 at %v, %v", ip, err)
	}
	if ip, err := nodeIP(s, 244); err != nil || ip.String() != "10.213.9.254" {
		t.Fatalf("n244 at %v, %v", ip, err)
	}
	if _, err := nodeIP(s, 245); err == nil {
		t.Fatal("n245 fits in a /24 with the broadcast address")
	}
}

func TestModulePath(t *testing.T) {
	for src, want := range map[string]string{
		"module github.com/clusteragent/agent\n\ngo 1.26\n": modulePath,
		"// c\nmodule \"example.com/x\"\n":                  "example.com/x",
		"modulex foo\n":                                     "",
	} {
		if got := modulePathOf([]byte(src)); got != want {
			t.Errorf("modulePathOf(%q) = %q, want %q", src, got, want)
		}
	}
}

// TestCommandError checks a failed command's error names it and carries
// its stderr, capped, and that saidAny reads that stderr.
func TestCommandError(t *testing.T) {
	script := `echo "Error: No such container: x" >&2; head -c 10000 /dev/zero | tr '\0' e >&2; exit 3`
	_, err := command{name: "sh", args: []string{"-c", script}}.run(context.Background(), 10*time.Second)
	if err == nil {
		t.Fatal("a failing command succeeded")
	}
	if !strings.Contains(err.Error(), "sh -c") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("error does not name the command and its status: %.200s", err)
	}
	if !saidAny(err, "no such container") || saidAny(err, "not found") {
		t.Errorf("saidAny misreads %.200s", err)
	}
	if len(err.Error()) > stderrCap+200 {
		t.Errorf("error of %d bytes: stderr not capped", len(err.Error()))
	}
	_, err = command{name: "sleep", args: []string{"5"}}.run(context.Background(), 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "timed out") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: %v", err)
	}
}

// TestRenderConfigSeedName checks that with a seed name the file names no
// address: the agents join through the name and advertise their
// interface's address, so a container moved to a new IP needs no new file.
func TestRenderConfigSeedName(t *testing.T) {
	o, err := Options{Servers: 3, SeedName: "agents"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	src, err := renderConfig(&o, nodeConfig{ID: "n1", IP: "10.213.7.11", Join: []string{"10.213.7.12"}, BootstrapExpect: 3})
	if err != nil {
		t.Fatal(err)
	}
	file, diags := hclsyntax.ParseConfig(src, "agent.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("generated config does not parse: %v\n%s", diags, src)
	}
	attrs := file.Body.(*hclsyntax.Body).Attributes
	for key, want := range map[string]string{
		"join":      `["agents:7946"]`,
		"advertise": `"{{ GetDefaultInterfaces | include \"type\" \"IPv4\" | attr \"address\" }}"`,
	} {
		a, ok := attrs[key]
		if !ok {
			t.Fatalf("key %s missing from\n%s", key, src)
		}
		if got := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(a.SrcRange.SliceBytes(src)[len(key):])), "=")); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	if strings.Contains(string(src), "10.213.7.") {
		t.Errorf("the file names an address:\n%s", src)
	}
}

// TestMoveNeedsSeedName: Move refuses a cluster whose config files hold
// fixed addresses, and a node still running, before touching anything.
func TestMoveNeedsSeedName(t *testing.T) {
	c := &Cluster{stopped: map[string]bool{}, nodes: map[string]*node{"n1": {id: "n1"}}}
	if err := c.Move(context.Background(), "n1"); err == nil || !strings.Contains(err.Error(), "SeedName") {
		t.Errorf("Move without SeedName: %v", err)
	}
	c.opts.SeedName = "agents"
	if err := c.Move(context.Background(), "n1"); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Errorf("Move of a running node: %v", err)
	}
}
