package configfile

import (
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent"
)

func TestLookupAndIsBlock(t *testing.T) {
	for _, c := range []struct {
		name         string
		key, isBlock bool
	}{
		{"bind", true, false}, {"ports.gossip", true, false}, {"ports", false, true},
		{"autopilot", false, true}, {"port", false, false}, {"ports.nope", false, false}, {"", false, false},
	} {
		if got := Lookup(c.name) != nil; got != c.key {
			t.Errorf("Lookup(%q) found %v, want %v", c.name, got, c.key)
		}
		if got := IsBlock(c.name); got != c.isBlock {
			t.Errorf("IsBlock(%q) = %v, want %v", c.name, got, c.isBlock)
		}
	}
}

// Every key's field has an HCL rendering, and no two keys share a name.
func TestEveryKeyRenders(t *testing.T) {
	var cfg agent.Config
	seen := map[string]bool{}
	for _, k := range Keys {
		if seen[k.Name] {
			t.Errorf("key %s listed twice", k.Name)
		}
		seen[k.Name] = true
		if _, err := ctyValue(k.Field(&cfg)); err != nil {
			t.Errorf("%s: %v", k.Name, err)
		}
	}
}

// Render writes top-level keys first and each block once, whatever order
// the changed keys come in.
func TestRenderLayout(t *testing.T) {
	cfg := agent.DefaultConfig()
	cfg.NodeID = "n1"
	cfg.Ports.Raft = 7100
	cfg.Autopilot.DeadServerReapAfter = 90 * time.Second
	cfg.Ports.Gossip = 7947
	cfg.Join = []string{"a:1", "b:2"}
	src, err := Render(cfg, agent.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := `node_id = "n1"
join    = ["a:1", "b:2"]

ports {
  gossip = 7947
  raft   = 7100
}

autopilot {
  dead_server_reap_after = "1m30s"
}
`
	if string(src) != want {
		t.Errorf("got\n%s\nwant\n%s", src, want)
	}
	if src, err := Render(cfg, cfg); err != nil || len(src) != 0 {
		t.Errorf("nothing changed: got %q, %v; want an empty file", src, err)
	}
	if _, err := Render(cfg, cfg, "bind", "nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown always key: %v", err)
	}
}
