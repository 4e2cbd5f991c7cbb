package discovery

import (
	"testing"
	"time"
)

func TestEventTypeString(t *testing.T) {
	for typ, want := range map[EventType]string{EventJoin: "join", EventUpdate: "update", EventLeave: "leave", EventFail: "fail", 0: "EventType(0)"} {
		if got := typ.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(typ), got, want)
		}
	}
}

func TestMemberTable(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	retention := 72 * time.Hour
	tb := newMemberTable("self", []rememberedPeer{
		{ID: "self", Addr: "10.0.0.9:1", LastSeen: t0},
		{ID: "old", Addr: "10.0.0.8:1", LastSeen: t0},
	})
	tb.join("self", "10.0.0.9:1", Meta{ID: "self"}, "", t0)
	tb.join("a", "10.0.0.1:1", Meta{ID: "a"}, "", t0)
	tb.join("b", "10.0.0.2:1", Meta{ID: "b"}, "", t0)

	if got := statuses(tb.snapshot(nil, t0, retention)); got != "a=alive b=alive self=alive" {
		t.Fatalf("snapshot = %s", got)
	}
	// Suspect comes from memberlist at read time; Since moves with it.
	ms := tb.snapshot(map[string]bool{"a": true}, t0.Add(time.Second), retention)
	if ms[0].Status != StatusSuspect || !ms[0].Since.Equal(t0.Add(time.Second)) {
		t.Errorf("suspect a = %+v", ms[0])
	}

	tb.leave("a", "10.0.0.1:1", Meta{ID: "a"}, "", false, t0.Add(2*time.Second))
	tb.leave("b", "10.0.0.2:1", Meta{ID: "b"}, "", true, t0.Add(2*time.Second))
	if got := statuses(tb.snapshot(nil, t0.Add(3*time.Second), retention)); got != "a=dead b=left self=alive" {
		t.Fatalf("after leave: %s", got)
	}
	// A dead member stays remembered (to rejoin it); a left one does not;
	// this node never is.
	missing := tb.missing(t0.Add(3*time.Second), retention)
	if len(missing) != 2 || missing[0].ID != "a" || missing[1].ID != "old" {
		t.Errorf("missing = %+v, want a and old", missing)
	}

	// A member that comes back replaces its dead entry, at its new address.
	m := tb.join("a", "10.0.0.5:1", Meta{ID: "a", Zone: "z"}, "", t0.Add(4*time.Second))
	if m.Status != StatusAlive || m.Addr != "10.0.0.5:1" {
		t.Errorf("rejoined a = %+v", m)
	}
	if tb.forget("a") {
		t.Error("forget removed a live member")
	}
	if !tb.forget("b") || tb.forget("b") {
		t.Error("forget of a left member: want true once")
	}

	// Retention prunes dead members and stale remembered ones.
	tb.leave("a", "10.0.0.5:1", Meta{ID: "a"}, "", false, t0.Add(5*time.Second))
	later := t0.Add(5*time.Second + retention + time.Second)
	if got := statuses(tb.snapshot(nil, later, retention)); got != "self=alive" {
		t.Errorf("after retention: %s", got)
	}
	if peers := tb.rememberedPeers(later, retention); len(peers) != 0 {
		t.Errorf("remembered after retention = %+v", peers)
	}
}

func TestRememberedLiveMembersStayFresh(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tb := newMemberTable("self", nil)
	tb.join("a", "10.0.0.1:1", Meta{ID: "a"}, "", t0)
	// Alive for longer than the retention: still remembered, seen "now".
	later := t0.Add(100 * time.Hour)
	peers := tb.rememberedPeers(later, time.Hour)
	if len(peers) != 1 || !peers[0].LastSeen.Equal(later) {
		t.Errorf("remembered = %+v", peers)
	}
	tb.clearRemembered()
	if peers := tb.rememberedPeers(later, time.Hour); len(peers) != 0 {
		t.Errorf("after clear: %+v", peers)
	}
}
