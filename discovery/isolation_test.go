package discovery

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

// waitAttempts waits until each node has made at least n join attempts, so
// that "never joined" is asserted after real tries, not before them.
func waitAttempts(t *testing.T, n uint64, gs ...*Gossip) {
	t.Helper()
	testutil.WaitFor(t, waitTimeout, func() error {
		for _, g := range gs {
			if got := g.joinAttempts.Load(); got < n {
				return fmt.Errorf("%s made %d join attempts", g.cfg.NodeID, got)
			}
		}
		return nil
	})
}

func TestWrongGossipKeyNeverJoins(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	key1 := bytes.Repeat([]byte{1}, 32)
	key2 := bytes.Repeat([]byte{2}, 16)
	withKey := func(k []byte) func(*Config) { return func(cfg *Config) { cfg.SecretKey = k } }

	a := c.start(c.config("a", withKey(key1)))
	b := c.start(c.config("b", withKey(key1), seeds(a.Addr())))
	wrong := c.start(c.config("wrong", withKey(key2), seeds(a.Addr())))
	plain := c.start(c.config("plain", seeds(a.Addr())))
	waitStatuses(t, allAlive(a, b), a, b)
	waitAttempts(t, 3, wrong, plain)

	for _, g := range []*Gossip{a, b} {
		if err := checkStatuses(g, allAlive(a, b)); err != nil {
			t.Error(err)
		}
	}
	for _, g := range []*Gossip{wrong, plain} {
		if err := checkStatuses(g, allAlive(g)); err != nil {
			t.Error(err)
		}
		if g.Joined() {
			t.Errorf("%s: Joined() = true with the wrong key", g.cfg.NodeID)
		}
	}
}

func TestClusterIsolation(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	inCluster := func(id string) func(*Config) {
		return func(cfg *Config) {
			cfg.Meta.ClusterID = id
			cfg.PushPullInterval = 300 * time.Millisecond // many full syncs while we watch
		}
	}
	x1 := c.start(c.config("x1", inCluster("cluster-x")))
	x2 := c.start(c.config("x2", inCluster("cluster-x"), seeds(x1.Addr())))
	y1 := c.start(c.config("y1", inCluster("cluster-y")))
	y2 := c.start(c.config("y2", inCluster("cluster-y"), seeds(y1.Addr())))
	waitStatuses(t, allAlive(x1, x2), x1, x2)
	waitStatuses(t, allAlive(y1, y2), y1, y2)

	if _, err := y1.Join([]string{x1.Addr()}); err == nil {
		t.Error("a node of cluster-y joined cluster-x")
	}

	// A fresh node (no cluster ID yet) may join a pool. Joining the other
	// pool too makes it a bridge relaying both pools' alive messages: the
	// alive delegate must keep them apart anyway.
	fresh := c.start(c.config("fresh", inCluster("")))
	if _, err := fresh.Join([]string{x1.Addr()}); err != nil {
		t.Fatalf("fresh node could not join cluster-x: %v", err)
	}
	_, _ = fresh.Join([]string{y1.Addr()})
	waitStatuses(t, allAlive(x1, x2, fresh), x1, x2)

	holdFor(t, 2*time.Second, func() error {
		for _, g := range []*Gossip{x1, x2} {
			for _, m := range g.Members() {
				if strings.Contains(m.ID, "-y") {
					return fmt.Errorf("%s sees %s of the other cluster", g.cfg.NodeID, m.ID)
				}
			}
		}
		for _, g := range []*Gossip{y1, y2} {
			for _, m := range g.Members() {
				if strings.Contains(m.ID, "-x") {
					return fmt.Errorf("%s sees %s of the other cluster", g.cfg.NodeID, m.ID)
				}
			}
		}
		return nil
	})
	logs := c.logs.String()
	if !strings.Contains(logs, "refusing peer from another cluster") ||
		!strings.Contains(logs, "peer_cluster_id=cluster-x") || !strings.Contains(logs, "cluster_id=cluster-y") {
		t.Error("refusal not logged with both cluster IDs")
	}
}
