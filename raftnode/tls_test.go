package raftnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clusteragent/agent/internal/testutil"
	"github.com/clusteragent/agent/tlsutil"
)

// configurator issues a certificate for id from ca and loads it.
func configurator(t *testing.T, ca *testutil.TestCA, id string) *tlsutil.Configurator {
	t.Helper()
	caFile, certFile, keyFile := ca.NodeFiles(t, id)
	c, err := tlsutil.NewConfigurator(tlsutil.Config{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMutualTLSCluster(t *testing.T) {
	t.Parallel()
	ca := testutil.NewTestCA(t)
	nodes := startCluster(t, []string{"t1", "t2", "t3"}, func(o *Options) {
		o.TLS = configurator(t, ca, o.NodeID)
	})
	applyCluster(t, nodes, "secure", 3)
	waitApplied(t, 3, nodes...)

	// A node whose certificate comes from another CA is added to the
	// configuration, but the leader cannot replicate to it: every
	// connection fails the handshake and it never accepts an RPC.
	ro := baseOptions(t, "rogue")
	ro.JoinOnly = true
	ro.TLS = configurator(t, testutil.NewTestCA(t), "rogue")
	rogue := startNode(t, ro)
	onLeader(t, nodes, "AddNonvoter(rogue)", func(l *testNode) error { return l.AddNonvoter(ctxT(t), "rogue", rogue.Addr()) })
	testutil.WaitFor(t, waitTimeout, func() error {
		if got := rogue.stream.handshakeFailures.Load(); got < 3 {
			return fmt.Errorf("rogue refused %d handshakes so far, want >= 3 (leader retries)", got)
		}
		return nil
	})
	if rogue.HasState() || rogue.fsm.Len() != 0 || rogue.LeaderID() != "" {
		t.Fatalf("rogue node got Raft traffic through: state=%v applied=%d leader=%q",
			rogue.HasState(), rogue.fsm.Len(), rogue.LeaderID())
	}
	// The cluster itself is unaffected.
	applyCluster(t, nodes, "still-fine", 1)
	waitApplied(t, 4, nodes...)

	onLeader(t, nodes, "RemoveServer(rogue)", func(l *testNode) error { return l.RemoveServer(ctxT(t), "rogue") })

	// A plain-TCP node cannot talk to the TLS cluster either.
	po := baseOptions(t, "plain")
	po.JoinOnly = true
	plain := startNode(t, po)
	// Whichever node leads by then heartbeats the plain node.
	failed := watchFailedHeartbeats(t, "plain", nodes...)
	onLeader(t, nodes, "AddNonvoter(plain)", func(l *testNode) error { return l.AddNonvoter(ctxT(t), "plain", plain.Addr()) })
	select {
	case <-failed:
	case <-time.After(waitTimeout):
		t.Fatal("the leader never failed a heartbeat to the plain TCP node")
	}
	for _, n := range nodes {
		if n.stream.handshakeFailures.Load() != 0 {
			t.Fatalf("%s refused handshakes from cluster members", n.NodeID())
		}
	}
	leader := applyCluster(t, nodes, "with-plain", 1)
	waitApplied(t, 5, nodes...)
	if plain.HasState() || plain.fsm.Len() != 0 {
		t.Fatal("plain TCP node received Raft state from a TLS cluster")
	}
	if err := leader.RemoveServer(ctxT(t), "plain"); err != nil && !errors.Is(err, ErrNotLeader) {
		t.Fatalf("RemoveServer(plain): %v", err)
	}
}

// watchFailedHeartbeats returns a channel that receives when one of
// leaders fails to heartbeat peer.
func watchFailedHeartbeats(t *testing.T, peer string, leaders ...*testNode) <-chan raft.Observation {
	t.Helper()
	obsCh := make(chan raft.Observation, 16)
	obs := raft.NewObserver(obsCh, false, func(o *raft.Observation) bool {
		f, ok := o.Data.(raft.FailedHeartbeatObservation)
		return ok && string(f.PeerID) == peer
	})
	for _, leader := range leaders {
		leader.Raft().RegisterObserver(obs)
		t.Cleanup(func() { leader.Raft().DeregisterObserver(obs) })
	}
	return obsCh
}

func TestTypedNilTLSMeansPlainTCP(t *testing.T) {
	t.Parallel()
	var none *tlsutil.Configurator
	o := baseOptions(t, "typed-nil")
	o.TLS = none
	o.BootstrapPreferred = true
	n := startNode(t, o)
	if n.stream.tls != nil {
		t.Fatal("a nil *Configurator turned TLS on")
	}
	waitLeader(t, n)
}

func TestCustomDialIsUsed(t *testing.T) {
	t.Parallel()
	var dials atomic.Int64
	lo := baseOptions(t, "dialer")
	lo.BootstrapPreferred = true
	lo.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, address)
	}
	leader := startNode(t, lo)
	waitLeader(t, leader)
	jo := baseOptions(t, "dialed")
	jo.JoinOnly = true
	joiner := startNode(t, jo)
	if err := leader.AddNonvoter(ctxT(t), "dialed", joiner.Addr()); err != nil {
		t.Fatal(err)
	}
	applyN(t, leader, "d", 1)
	waitApplied(t, 1, joiner)
	if dials.Load() == 0 {
		t.Fatal("Options.Dial was not used")
	}
}
