package agent

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestGeneratedNodeIDIsRandomAndPersisted: without node_id, a data dir gets
// a random UUID, kept across restarts; another data dir gets another one.
func TestGeneratedNodeIDIsRandomAndPersisted(t *testing.T) {
	dir1, dir2 := t.TempDir(), t.TempDir()
	first, err := loadIdentity(dir1, "")
	if err != nil {
		t.Fatal(err)
	}
	if !uuidV4.MatchString(first.nodeID) || !ValidNodeID(first.nodeID) {
		t.Fatalf("generated node ID %q is not a valid version 4 UUID", first.nodeID)
	}
	b, err := os.ReadFile(filepath.Join(dir1, nodeIDFile))
	if err != nil || strings.TrimSpace(string(b)) != first.nodeID {
		t.Fatalf("node-id file holds %q (%v), want %q", b, err, first.nodeID)
	}
	again, err := loadIdentity(dir1, "")
	if err != nil || again.nodeID != first.nodeID {
		t.Fatalf("restart: node ID %q (%v), want the persisted %q", again.nodeID, err, first.nodeID)
	}
	if _, err := loadIdentity(dir1, "someone-else"); !errors.Is(err, ErrIdentity) {
		t.Fatalf("configured ID against a data dir of another node: %v, want ErrIdentity", err)
	}
	other, err := loadIdentity(dir2, "")
	if err != nil {
		t.Fatal(err)
	}
	if other.nodeID == first.nodeID {
		t.Fatalf("two data dirs generated the same node ID %q", first.nodeID)
	}
	seen := map[string]bool{}
	for range 1000 {
		id := newNodeID()
		if seen[id] || !uuidV4.MatchString(id) {
			t.Fatalf("newNodeID gave %q (repeat: %v)", id, seen[id])
		}
		seen[id] = true
	}
}
