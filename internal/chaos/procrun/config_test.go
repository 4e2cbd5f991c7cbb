package procrun

import (
	"strings"
	"testing"
)

// TestRenderLogStore checks the raft block carries log_store when a run
// chooses one, and leaves the agent's default alone when it does not.
func TestRenderLogStore(t *testing.T) {
	cfg := nodeConfig{ID: "n1", DataDir: "/d", GossipPort: 1, RaftPort: 2, HTTPPort: 3, LogStore: "boltdb"}
	src := cfg.render(settingsFor(3))
	_, raftBlock, ok := strings.Cut(src, "raft {\n")
	raftBlock, _, _ = strings.Cut(raftBlock, "}")
	if !ok || !strings.Contains(raftBlock, `log_store`) || !strings.Contains(raftBlock, `"boltdb"`) {
		t.Fatalf("raft block lacks log_store = \"boltdb\":\n%s", src)
	}
	cfg.LogStore = ""
	if src := cfg.render(settingsFor(3)); strings.Contains(src, "log_store") {
		t.Fatalf("log_store set without a choice:\n%s", src)
	}
}
