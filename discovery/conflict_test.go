package discovery

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	itest "github.com/clusteragent/agent/internal/testutil"
)

// named gives a node its own logger name, so each side's log lines can be
// told apart although both carry the same node ID.
func (c *cluster) named(name string) func(*Config) {
	return func(cfg *Config) { cfg.Logger = c.logger.Named(name) }
}

// sameID gives a node the ID of the node called name.
func (c *cluster) sameID(name string) func(*Config) {
	return func(cfg *Config) { cfg.NodeID = c.id(name) }
}

// waitConflictLogged waits until the node logged as name reported a node ID
// conflict at ERROR, naming the ID and both addresses.
func waitConflictLogged(t *testing.T, c *cluster, name, id, addr, other string) {
	t.Helper()
	itest.WaitFor(t, waitTimeout, func() error {
		for _, line := range strings.Split(c.logs.String(), "\n") {
			if strings.Contains(line, "[ERROR] "+name+".gossip: node ID conflict") &&
				strings.Contains(line, "node_id="+id) && strings.Contains(line, "addr="+addr) &&
				strings.Contains(line, "other_addr="+other) {
				return nil
			}
		}
		return fmt.Errorf("%s logged no ERROR naming node ID %s at %s and %s", name, id, addr, other)
	})
}

func waitConflicts(t *testing.T, gs ...*Gossip) {
	t.Helper()
	itest.WaitFor(t, waitTimeout, func() error {
		for _, g := range gs {
			if g.NodeIDConflicts() == 0 {
				return fmt.Errorf("%s at %s counted no node ID conflict", g.cfg.NodeID, g.Addr())
			}
		}
		return nil
	})
}

// TestDuplicateNodeIDRefusedOnBothSides: a second process with the same
// node ID (a copied data dir) joining the first directly is refused by
// both, both log an ERROR naming the ID and the two addresses, both count
// it, and neither lists the other.
func TestDuplicateNodeIDRefusedOnBothSides(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	reg := prometheus.NewRegistry()
	holder := c.start(c.config("dup", c.named("holder"), func(cfg *Config) { cfg.Registerer = reg }))
	copyCfg := c.config("dup", c.named("copy"))
	copied, err := New(copyCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = copied.Shutdown() })

	_, err = copied.Join([]string{holder.Addr()})
	if !errors.Is(err, ErrNodeIDConflict) {
		t.Fatalf("join of a second node with ID %s: error %v, want ErrNodeIDConflict", holder.cfg.NodeID, err)
	}
	if !strings.Contains(err.Error(), holder.Addr()) || !strings.Contains(err.Error(), copied.Addr()) {
		t.Errorf("join error %q does not name both addresses %s and %s", err, holder.Addr(), copied.Addr())
	}
	waitConflicts(t, holder, copied)
	waitConflictLogged(t, c, "holder", holder.cfg.NodeID, holder.Addr(), copied.Addr())
	waitConflictLogged(t, c, "copy", holder.cfg.NodeID, copied.Addr(), holder.Addr())
	if got := counterValue(t, reg, "gossip_node_id_conflicts_total"); got < 1 {
		t.Errorf("gossip_node_id_conflicts_total = %v on the holder, want >= 1", got)
	}
	if copied.Joined() {
		t.Error("the copy believes it joined")
	}
	for _, g := range []*Gossip{holder, copied} {
		if m, _ := g.Member(g.cfg.NodeID); m.Addr != g.Addr() {
			t.Errorf("node at %s lists its ID at %s", g.Addr(), m.Addr)
		}
	}
}

// TestDuplicateNodeIDThroughThirdNode: the copy joins through a seed that
// knows the holder. The seed's state makes the copy refuse the join; the
// copy then contacts the holder, which reports it too; the seed keeps the
// holder's address.
func TestDuplicateNodeIDThroughThirdNode(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	seed := c.start(c.config("seed"))
	holder := c.start(c.config("dup", c.named("holder"), seeds(seed.Addr())))
	waitStatuses(t, allAlive(seed, holder), seed, holder)

	copied := c.start(c.config("copy", c.sameID("dup"), seeds(seed.Addr())))
	waitConflicts(t, copied, holder)
	id := holder.cfg.NodeID
	waitConflictLogged(t, c, "copy", id, copied.Addr(), holder.Addr())
	waitConflictLogged(t, c, "holder", id, holder.Addr(), copied.Addr())
	if m, _ := seed.Member(id); m.Addr != holder.Addr() || m.Status != StatusAlive {
		t.Errorf("seed lists %s as %+v, want alive at the holder's %s", id, m, holder.Addr())
	}
	if copied.Joined() {
		t.Error("the copy believes it joined")
	}
}

// TestRestartAtNewAddressStillRejoins: the legitimate look-alike. A node
// stops without leaving and comes back with its ID at another address; once
// its old address is dead it is let in, and the seed lists the new address.
func TestRestartAtNewAddressStillRejoins(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	seed := c.start(c.config("seed"))
	first := c.start(c.config("n", seeds(seed.Addr())))
	waitStatuses(t, allAlive(seed, first), seed, first)
	if err := first.Shutdown(); err != nil {
		t.Fatal(err)
	}
	again := c.start(c.config("n", seeds(seed.Addr())))
	if again.Addr() == first.Addr() {
		t.Skip("the kernel gave the restarted node its old port; nothing to test")
	}
	itest.WaitFor(t, waitTimeout, func() error {
		m, _ := seed.Member(again.cfg.NodeID)
		if m.Addr != again.Addr() || m.Status != StatusAlive || !again.Joined() {
			return fmt.Errorf("seed lists %s as %+v, want alive at %s; joined %v", again.cfg.NodeID, m, again.Addr(), again.Joined())
		}
		return nil
	})
	if n := seed.NodeIDConflicts(); n != 0 {
		t.Errorf("the seed, a third party, counted %d conflicts", n)
	}
}

// TestHolderContactsAreBoundedAndForgotten: a holder address is dialled at
// most once per interval, never when just tried, and forgotten once no
// seed has reported it for two intervals.
func TestHolderContactsAreBoundedAndForgotten(t *testing.T) {
	var c conflictState
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c.addHolder("10.0.0.1:7946", t0)
	if got := c.holdersToContact([]string{"10.0.0.1:7946"}, t0); len(got) != 0 {
		t.Errorf("contacted %v although just tried", got)
	}
	if got := c.holdersToContact(nil, t0); len(got) != 1 {
		t.Errorf("first contact: %v", got)
	}
	if got := c.holdersToContact(nil, t0.Add(conflictReportInterval/2)); len(got) != 0 {
		t.Errorf("contacted again within the interval: %v", got)
	}
	if got := c.holdersToContact(nil, t0.Add(conflictReportInterval)); len(got) != 1 {
		t.Errorf("no contact after the interval: %v", got)
	}
	if got := c.holdersToContact(nil, t0.Add(3*conflictReportInterval)); len(got) != 0 || len(c.holders) != 0 {
		t.Errorf("a holder unreported for three intervals: contacted %v, kept %v", got, c.holders)
	}
}
