package autopilot

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	ap "github.com/hashicorp/raft-autopilot"

	"github.com/clusteragent/agent/internal/clock"
)

// TestRemovalPassLog checks the line outside checkers read: one JSON line
// per pass that removes something, with the fields the per-pass rules need.
func TestRemovalPassLog(t *testing.T) {
	var buf bytes.Buffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &buf, JSONFormat: true, Level: hclog.Info})
	p := NewPromoter(clock.NewFake(t0), logger)
	voter := func(id string) srv { return srv{id: id, state: ap.RaftVoter, healthy: true, stable: time.Hour} }
	st := mkState(t0,
		srv{id: "a", state: ap.RaftLeader, healthy: true, stable: time.Hour},
		voter("b"), voter("c"),
		srv{id: "d", state: ap.RaftVoter, status: ap.NodeFailed, failed: time.Hour},
		srv{id: "e", state: ap.RaftVoter, status: ap.NodeLeft, failed: time.Second},
		srv{id: "f", state: ap.RaftNonVoter, status: ap.NodeLeft, failed: time.Second},
	)
	settings := &Settings{MaxVoters: 5, MinQuorum: 3, DeadServerReapAfter: time.Minute}
	conf := &ap.Config{CleanupDeadServers: true, MinQuorum: 3, Ext: settings}

	// Five voters and min_quorum 3: two voters may go, with the non-voter.
	out := p.FilterFailedServerRemovals(conf, st, offered(st))
	if n := len(out.FailedVoters) + len(out.FailedNonVoters); n != 3 {
		t.Fatalf("removing %s, want d, e and f", removalIDs(out))
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("logged %d lines, want 1: %q", len(lines), buf.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatalf("not JSON: %v: %q", err, lines[0])
	}
	want := map[string]any{
		"@level":          "info",
		"@message":        "autopilot removal pass",
		"voters":          5.0,
		"removing":        "d,e,f",
		"removing_voters": 2.0,
		"leader":          "a",
		"min_quorum":      3.0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v in %s", k, got[k], v, lines[0])
		}
	}

	// With min_quorum 5 no voter may go; the non-voter still does.
	buf.Reset()
	settings.MinQuorum = 5
	p.FilterFailedServerRemovals(conf, st, offered(st))
	if !strings.Contains(buf.String(), `"removing":"f"`) || !strings.Contains(buf.String(), `"removing_voters":0`) {
		t.Errorf("min_quorum 5: logged %q, want only f removed", buf.String())
	}

	// A pass that removes nothing says nothing.
	buf.Reset()
	p.FilterFailedServerRemovals(conf, st, &ap.FailedServers{})
	if buf.Len() != 0 {
		t.Errorf("a pass removing nothing logged %q", buf.String())
	}
}

// TestNewPromoterNilSafe checks that a promoter built without a clock or a
// logger still filters and logs (to nowhere).
func TestNewPromoterNilSafe(t *testing.T) {
	p := NewPromoter(nil, nil)
	st := mkState(time.Now(),
		srv{id: "a", state: ap.RaftLeader, healthy: true, stable: time.Hour},
		srv{id: "b", state: ap.RaftNonVoter, status: ap.NodeLeft},
	)
	out := p.FilterFailedServerRemovals(&ap.Config{Ext: &Settings{MaxVoters: 3}}, st, offered(st))
	if len(out.FailedNonVoters) != 1 {
		t.Fatalf("removing %s, want b", removalIDs(out))
	}
}
