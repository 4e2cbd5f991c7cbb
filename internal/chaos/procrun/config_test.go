package procrun

import (
	"strings"
	"testing"
)

// TestRenderLogStore checks the raft block carries log_store when a run
// chooses one, and leaves the agent's default alone when it does not.
func TestRenderLogStore(t *testing.T) {
	cfg := nodeConfig{ID: "n1", DataDir: "/d", GossipPort: 1, RaftPort: 2, HTTPPort: 3, LogStore: "boltdb"}
	b, err := cfg.render(settingsFor(3))
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	_, raftBlock, ok := strings.Cut(src, "raft {\n")
	raftBlock, _, _ = strings.Cut(raftBlock, "}")
	if !ok || !strings.Contains(raftBlock, `log_store`) || !strings.Contains(raftBlock, `"boltdb"`) {
		t.Fatalf("raft block lacks log_store = \"boltdb\":\n%s", src)
	}
	cfg.LogStore = ""
	if b, err := cfg.render(settingsFor(3)); err != nil || strings.Contains(string(b), "log_store") {
		t.Fatalf("log_store set without a choice (%v):\n%s", err, b)
	}
}

// TestRenderSpellsOutTimings checks the file names the settings the
// suite's timings rest on, even those at the agent's default.
func TestRenderSpellsOutTimings(t *testing.T) {
	b, err := nodeConfig{ID: "n1", DataDir: "/d", GossipPort: 1, RaftPort: 2, HTTPPort: 3, Join: []string{"127.0.0.1:1"}}.render(settingsFor(3))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`node_id`, `"n1"`, `join`, `["127.0.0.1:1"]`, "bootstrap_expect = 0", `profile = "local"`,
		"multiplier = 1", `dead_server_reap_after    = "3s"`, "max_voters                = 3", `addr = "127.0.0.1:3"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config lacks %q:\n%s", want, b)
		}
	}
}
