package discovery

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"

	"github.com/clusteragent/agent/internal/clock"
	"github.com/clusteragent/agent/internal/testutil"
)

// deafTransport discards every UDP packet the node receives: it still sends,
// and talks over TCP (joins, push/pulls and the probes' TCP fallback, which
// keeps it alive in the others' eyes), but learns nothing by gossip.
type deafTransport struct {
	memberlist.NodeAwareTransport
	never   chan *memberlist.Packet
	done    chan struct{}
	drained chan struct{}
}

func deaf(inner memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
	d := &deafTransport{NodeAwareTransport: inner, never: make(chan *memberlist.Packet),
		done: make(chan struct{}), drained: make(chan struct{})}
	go func() {
		defer close(d.drained)
		for {
			select {
			case <-inner.PacketCh():
			case <-d.done:
				return
			}
		}
	}()
	return d
}

func (d *deafTransport) PacketCh() <-chan *memberlist.Packet { return d.never }

// Shutdown stops the inner transport first: its receive loop may be blocked
// handing over a packet, which only the drain lets it finish.
func (d *deafTransport) Shutdown() error {
	err := d.NodeAwareTransport.Shutdown()
	close(d.done)
	<-d.drained
	return err
}

// TestJoinerCatchesUpByPushPullAfterJoin: a member that joined before
// another can learn of it only through gossip or a push/pull. With gossip
// cut off and memberlist's periodic push/pull out of reach, the extra
// push/pull after the join is what brings it the later member.
func TestJoinerCatchesUpByPushPullAfterJoin(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	now := time.Now()
	// Each node's own timers (rejoin, extra push/pulls) move only when its
	// clock is advanced; memberlist's periodic push/pull is a long way off.
	frozen := func(clk *clock.Fake) func(*Config) {
		return func(cfg *Config) { cfg.Clock, cfg.PushPullInterval = clk, 1000*time.Hour }
	}
	joinerClock := clock.NewFake(now)
	seed := c.start(c.config("seed", frozen(clock.NewFake(now))))
	joiner := c.start(c.config("joiner", frozen(joinerClock), seeds(seed.Addr()),
		func(cfg *Config) { cfg.WrapTransport = deaf }))
	waitStatuses(t, allAlive(seed, joiner), seed, joiner)

	late := c.start(c.config("late", frozen(clock.NewFake(now)), seeds(seed.Addr())))
	waitStatuses(t, allAlive(seed, joiner, late), seed, late)
	if m, ok := joiner.Member(late.cfg.NodeID); ok {
		t.Fatalf("the joiner knew %s before any push/pull of its own: %+v", late.cfg.NodeID, m)
	}

	// Advance the joiner's clock until its first extra push/pull (due within
	// 1.5 s of its join) has run; its timer may not be set the first time.
	testutil.WaitFor(t, waitTimeout, func() error {
		joinerClock.Advance(joinSyncDelays[0] * 3 / 2)
		if n := joiner.joinSyncs.Load(); n == 0 {
			return errors.New("no push/pull after the join yet")
		}
		return checkStatuses(joiner, allAlive(seed, joiner, late))
	})
}

// TestPoolJoiningOneSeedAtOnceConverges starts 20 members together, all
// seeded with the first, as a fleet rollout does: every one must soon see
// every other alive, and each joiner makes its extra push/pulls.
func TestPoolJoiningOneSeedAtOnceConverges(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	const n = 20
	pool := make([]*Gossip, 0, n)
	for i := range n {
		cfg := c.config(fmt.Sprintf("m%02d", i))
		if i > 0 {
			cfg.Seeds = []string{pool[0].Addr()}
		}
		g, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = g.Shutdown() })
		pool = append(pool, g)
	}
	for _, g := range pool {
		g.Start()
	}
	// Generous: on an idle machine this takes about a second.
	testutil.WaitFor(t, 2*waitTimeout, func() error {
		for _, g := range pool {
			if err := checkStatuses(g, allAlive(pool...)); err != nil {
				return err
			}
		}
		return nil
	})
	testutil.WaitFor(t, waitTimeout, func() error {
		for _, g := range pool[1:] {
			if g.joinSyncs.Load() == 0 {
				return fmt.Errorf("%s made no push/pull after its join", g.cfg.NodeID)
			}
		}
		return nil
	})
}

func TestAdmitRechecksWhenMetaOrClusterChanges(t *testing.T) {
	g := &Gossip{refusals: &refusalLog{logger: hclog.NewNullLogger(), clock: clock.Real{}, last: map[string]time.Time{}}}
	setLocal := func(cluster string) {
		enc, err := EncodeMeta(Meta{ID: "self", ClusterID: cluster})
		if err != nil {
			t.Fatal(err)
		}
		g.meta.Store(&localMeta{meta: Meta{ID: "self", ClusterID: cluster}, encoded: enc})
	}
	peer := func(id, cluster string) *memberlist.Node {
		enc, err := EncodeMeta(Meta{ID: id, ClusterID: cluster})
		if err != nil {
			t.Fatal(err)
		}
		return &memberlist.Node{Name: "p", Meta: enc}
	}

	setLocal("")
	for range 2 { // the second time from the cache
		if err := g.admit(peer("p", "y")); err != nil {
			t.Fatalf("a node with no cluster refused a peer: %v", err)
		}
	}
	setLocal("x")
	if err := g.admit(peer("p", "y")); !errors.Is(err, ErrClusterMismatch) {
		t.Fatalf("after joining cluster x, a peer of cluster y admitted from the cache: %v", err)
	}
	if err := g.admit(peer("p", "x")); err != nil {
		t.Fatalf("a peer of the same cluster refused: %v", err)
	}
	if err := g.admit(peer("other", "x")); !errors.Is(err, ErrInvalidMeta) {
		t.Fatalf("changed metadata naming another node admitted from the cache: %v", err)
	}
}
