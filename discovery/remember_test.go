package discovery

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/clock"
	"github.com/clusteragent/agent/internal/testutil"
)

func dataDir(dir string) func(*Config) { return func(c *Config) { c.DataDir = dir } }

// readPeers returns the IDs in a node's peers.json.
func readPeers(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "gossip", "peers.json"))
	if err != nil {
		return nil, err
	}
	peers, err := decodePeers(b)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(peers))
	for i, p := range peers {
		ids[i] = p.ID
	}
	return ids, nil
}

func TestRestartRejoinsViaRememberedMembers(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	dirC := t.TempDir()
	a := c.start(c.config("a", dataDir(t.TempDir())))
	b := c.start(c.config("b", seeds(a.Addr()), dataDir(t.TempDir())))
	c1 := c.start(c.config("c", seeds(a.Addr()), dataDir(dirC)))
	waitStatuses(t, allAlive(a, b, c1), a, b, c1)

	// The debounced writer saves the membership without waiting for Shutdown.
	testutil.WaitFor(t, waitTimeout, func() error {
		ids, err := readPeers(dirC)
		if err != nil || !slices.Equal(ids, []string{a.cfg.NodeID, b.cfg.NodeID}) {
			return fmt.Errorf("peers.json = %v (%v)", ids, err)
		}
		return nil
	})
	fi, err := os.Stat(filepath.Join(dirC, "gossip", "peers.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("peers.json mode = %v (%v), want 0600", fi.Mode(), err)
	}

	// c stops, then the only seed goes away too.
	if err := c1.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}
	want := map[string]Status{a.cfg.NodeID: StatusDead, b.cfg.NodeID: StatusAlive, c1.cfg.NodeID: StatusDead}
	waitStatuses(t, want, b)

	// Restarted with no seeds and on a new port, c can only find b through
	// what it remembered.
	c2 := c.start(c.config("c", dataDir(dirC)))
	if c2.Addr() == c1.Addr() {
		t.Log("restarted on the same port by chance")
	}
	want = map[string]Status{a.cfg.NodeID: StatusDead, b.cfg.NodeID: StatusAlive, c1.cfg.NodeID: StatusAlive}
	waitStatuses(t, want, b)
	// The restarted c never saw a alive in this run: memberlist ignores news
	// of the death of a node it never knew, so c lists only what it saw.
	waitStatuses(t, allAlive(b, c2), c2)
	if m, _ := b.Member(c2.cfg.NodeID); m.Addr != c2.Addr() {
		t.Errorf("b sees c at %s, want its new address %s", m.Addr, c2.Addr())
	}
	if !c2.Joined() {
		t.Error("restarted node not Joined")
	}
}

func TestPartitionHealedByRejoinLoop(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	const deadTime = 500 * time.Millisecond
	fast := func(cfg *Config) { cfg.GossipToTheDeadTime = deadTime }
	a := c.start(c.config("a", fast))
	b := c.start(c.config("b", fast, seeds(a.Addr())))
	c1 := c.start(c.config("c", fast, seeds(a.Addr())))
	waitStatuses(t, allAlive(a, b, c1), a, b, c1)
	port := c1.selfPort

	// c drops out and stays away well past GossipToTheDeadTime: from then on
	// memberlist on a and b never contacts it again on its own.
	if err := c1.Shutdown(); err != nil {
		t.Fatal(err)
	}
	want := allAlive(a, b)
	want[c1.cfg.NodeID] = StatusDead
	waitStatuses(t, want, a, b)
	testutil.WaitFor(t, waitTimeout, func() error {
		m, _ := a.Member(c1.cfg.NodeID)
		if age := (clock.Real{}).Now().Sub(m.Since); age < 3*deadTime {
			return fmt.Errorf("c dead for %s only", age)
		}
		return nil
	})
	before := a.rejoins.Load() + b.rejoins.Load()

	// c comes back at the same address knowing nobody (no seeds, no data
	// dir): only a's or b's rejoin loop can bring it back.
	c2 := c.start(c.config("c", fast, func(cfg *Config) { cfg.BindPort = port }))
	waitStatuses(t, allAlive(a, b, c2), a, b, c2)
	if after := a.rejoins.Load() + b.rejoins.Load(); after == before {
		t.Error("healed without a successful rejoin from a or b")
	}
}

func TestLeaveClearsRememberedMembers(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	dirB := t.TempDir()
	a := c.start(c.config("a"))
	b := c.start(c.config("b", seeds(a.Addr()), dataDir(dirB)))
	waitStatuses(t, allAlive(a, b), a, b)
	if err := b.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	ids, err := readPeers(dirB)
	if err != nil || len(ids) != 0 {
		t.Errorf("peers.json after Leave = %v (%v), want empty", ids, err)
	}
}

func TestCorruptPeersFileIsIgnored(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "gossip", "peers.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := c.start(c.config("a", dataDir(dir)))
	if err := checkStatuses(g, allAlive(g)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.logs.String(), "ignoring remembered members file") {
		t.Error("corrupt peers file was not reported")
	}
}

func TestPeersFileRoundTripAndPruning(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	s := newPeerStore(dir)
	peers := []rememberedPeer{
		{ID: "n1", Addr: "10.0.0.1:7946", LastSeen: now},
		{ID: "n2", Addr: "[::1]:7946", LastSeen: now.Add(-time.Hour)},
	}
	if err := s.save(peers); err != nil {
		t.Fatal(err)
	}
	got, err := newPeerStore(dir).load()
	if err != nil || len(got) != 2 || got[0] != peers[0] || !got[1].LastSeen.Equal(peers[1].LastSeen) {
		t.Fatalf("load = %+v, %v", got, err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "gossip"))
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}

	// Stale entries and this node's own entry are not used to rejoin.
	fake := clock.NewFake(now.Add(defaultDeadRetention - 2*time.Hour))
	g := &Gossip{cfg: Config{NodeID: "n1", DeadRetention: defaultDeadRetention}, clock: fake, store: newPeerStore(dir)}
	g.logger, _ = testLogger(t)
	if kept := g.loadRemembered(); len(kept) != 1 || kept[0].ID != "n2" {
		t.Errorf("loadRemembered = %+v, want only n2", kept)
	}
	fake.Advance(2 * time.Hour)
	if kept := g.loadRemembered(); len(kept) != 0 {
		t.Errorf("loadRemembered after retention = %+v, want none", kept)
	}
}

func TestDecodePeersErrors(t *testing.T) {
	cases := map[string]string{
		"not json":      `{`,
		"trailing data": `{"version":1,"members":[]} x`,
		"wrong version": `{"version":2,"members":[]}`,
		"missing id":    `{"version":1,"members":[{"addr":"1.2.3.4:5"}]}`,
		"dns addr":      `{"version":1,"members":[{"id":"a","addr":"host:5"}]}`,
		"no port":       `{"version":1,"members":[{"id":"a","addr":"1.2.3.4"}]}`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := decodePeers([]byte(in)); !errors.Is(err, ErrInvalidPeersFile) {
				t.Errorf("decodePeers(%q) = %v, want ErrInvalidPeersFile", in, err)
			}
		})
	}
}

func FuzzDecodePeers(f *testing.F) {
	good, _ := encodePeers([]rememberedPeer{{ID: "a", Addr: "127.0.0.1:7946"}})
	f.Add(good)
	f.Add([]byte(`{"version":1,"members":null}`))
	f.Add([]byte(`{"version":1,"members":[{"id":"","addr":""}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		peers, err := decodePeers(b)
		if err != nil {
			return
		}
		out, err := encodePeers(peers)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, err := decodePeers(out); err != nil {
			t.Fatalf("decoded file does not re-decode: %v", err)
		}
	})
}
