package faultnet

import (
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/clusteragent/agent/internal/testutil"
)

// newNetTransport binds a real memberlist transport on 127.0.0.1:0 and
// registers its address to node.
func newNetTransport(t *testing.T, n *Network, node string) (*memberlist.NetTransport, string) {
	t.Helper()
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{"127.0.0.1"},
		Logger:    log.New(io.Discard, "", 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(nt.GetAutoBindPort()))
	if err := n.Register(node, addr); err != nil {
		t.Fatal(err)
	}
	return nt, addr
}

// countPackets sends count packets from -> to, then an end marker from an
// unregistered socket (never faulted), and returns how many of the counted
// packets arrived. On loopback a datagram is queued at the receiver before
// sendto returns, so the marker arrives after every packet sent before it:
// "all sent packets were seen" becomes a condition rather than a wait.
func countPackets(t *testing.T, from, to memberlist.NodeAwareTransport, toAddr string, count int) int {
	t.Helper()
	for i := 0; i < count; i++ {
		if _, err := from.WriteToAddress([]byte("p"), memberlist.Address{Addr: toAddr}); err != nil {
			t.Fatal(err)
		}
	}
	marker, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer marker.Close()
	dst, err := net.ResolveUDPAddr("udp", toAddr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := marker.WriteTo([]byte("end"), dst); err != nil {
		t.Fatal(err)
	}
	got := 0
	timeout := time.After(10 * time.Second)
	for {
		select {
		case p := <-to.PacketCh():
			if string(p.Buf) == "end" {
				return got
			}
			got++
		case <-timeout:
			t.Fatalf("end marker not received; %d packets seen", got)
		}
	}
}

func TestPacketLoss(t *testing.T) {
	noLeaks(t)
	for _, tc := range []struct {
		p        float64
		min, max int
	}{
		{0, 1000, 1000},
		{1, 0, 0},
		{0.5, 430, 570},
	} {
		t.Run(fmt.Sprint(tc.p), func(t *testing.T) {
			n := NewNetwork(42)
			defer n.Close()
			ntA, _ := newNetTransport(t, n, "a")
			ntB, addrB := newNetTransport(t, n, "b")
			a := n.MemberlistTransport("a", ntA)
			b := n.MemberlistTransport("b", ntB)
			defer a.Shutdown()
			defer b.Shutdown()
			must(t, n.SetLoss("a", "b", tc.p))
			got := countPackets(t, a, b, addrB, 1000)
			if got < tc.min || got > tc.max {
				t.Fatalf("loss %v: %d of 1000 packets arrived, want %d..%d", tc.p, got, tc.min, tc.max)
			}
		})
	}
}

// TestPacketFaultsOnReceiveSide: a sender with a plain transport is faulted
// by the receiver's wrapper: partitions, and loss rolled once.
func TestPacketFaultsOnReceiveSide(t *testing.T) {
	noLeaks(t)
	n := NewNetwork(42)
	defer n.Close()
	plain, _ := newNetTransport(t, n, "a")
	defer plain.Shutdown()
	ntB, addrB := newNetTransport(t, n, "b")
	b := n.MemberlistTransport("b", ntB)
	defer b.Shutdown()

	must(t, n.SetLoss("a", "b", 1))
	if got := countPackets(t, plain, b, addrB, 50); got != 0 {
		t.Fatalf("100%% loss rolled at the receiver: %d packets arrived", got)
	}
	must(t, n.SetLoss("a", "b", 0))
	must(t, n.Partition([]string{"a"}, []string{"b"}))
	if got := countPackets(t, plain, b, addrB, 50); got != 0 {
		t.Fatalf("%d packets crossed the partition", got)
	}
}

func TestPacketsAndDialsAcrossPartition(t *testing.T) {
	noLeaks(t)
	n := NewNetwork(42)
	defer n.Close()
	ntA, addrA := newNetTransport(t, n, "a")
	ntB, addrB := newNetTransport(t, n, "b")
	a := n.MemberlistTransport("a", ntA)
	b := n.MemberlistTransport("b", ntB)
	defer a.Shutdown()
	defer b.Shutdown()
	// An address nobody registered is never faulted.
	ntU, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer ntU.Shutdown()
	addrU := net.JoinHostPort("127.0.0.1", strconv.Itoa(ntU.GetAutoBindPort()))

	must(t, n.Partition([]string{"a"}, []string{"b", "c"}))
	if got := countPackets(t, a, b, addrB, 20); got != 0 {
		t.Fatalf("%d packets crossed the partition to b", got)
	}
	if got := countPackets(t, b, a, addrA, 20); got != 0 {
		t.Fatalf("%d packets crossed the partition to a", got)
	}
	if _, err := a.WriteTo([]byte("u"), addrU); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-ntU.PacketCh():
		if string(p.Buf) != "u" {
			t.Fatalf("unknown address got %q", p.Buf)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("packet to an unknown address was dropped")
	}
	start := time.Now()
	if c, err := a.DialAddressTimeout(memberlist.Address{Addr: addrB, Name: "b"}, 200*time.Millisecond); err == nil || !isTimeout(err) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("gossip dial across partition: %v, want a timeout", err)
	}
	if el := time.Since(start); el < 180*time.Millisecond {
		t.Fatalf("gossip dial failed after %s, want a blackhole", el)
	}
	if _, err := b.DialTimeout(addrA, 100*time.Millisecond); !isTimeout(err) {
		t.Fatalf("gossip dial b -> a across partition: %v, want a timeout", err)
	}

	n.Heal()
	if got := countPackets(t, a, b, addrB, 20); got != 20 {
		t.Fatalf("after heal %d of 20 packets arrived", got)
	}
	c, err := a.DialTimeout(addrB, 5*time.Second)
	if err != nil {
		t.Fatalf("gossip dial after heal: %v", err)
	}
	defer c.Close()
	select {
	case s := <-b.StreamCh():
		defer s.Close()
		if err := send(c, s, "stream"); err != nil {
			t.Fatal(err)
		}
		if got := s.(*conn).remoteNode(); got != "a" {
			t.Fatalf("incoming gossip stream attributed to %q, want a", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("b never saw the gossip stream")
	}
}

// mlNode is one member of a real memberlist cluster using the wrapper.
type mlNode struct {
	name string
	addr string
	ml   *memberlist.Memberlist
}

func startMember(t *testing.T, n *Network, name string) *mlNode {
	t.Helper()
	nt, addr := newNetTransport(t, n, name)
	cfg := memberlist.DefaultLocalConfig()
	cfg.Name = name
	cfg.Transport = n.MemberlistTransport(name, nt)
	// With a custom transport memberlist does not learn the bound port, so
	// the advertised address is given explicitly.
	cfg.AdvertiseAddr = "127.0.0.1"
	cfg.AdvertisePort = nt.GetAutoBindPort()
	cfg.ProbeInterval = 200 * time.Millisecond
	cfg.ProbeTimeout = 100 * time.Millisecond
	cfg.GossipInterval = 50 * time.Millisecond
	cfg.SuspicionMult = 2
	cfg.TCPTimeout = 500 * time.Millisecond
	cfg.LogOutput = io.Discard
	ml, err := memberlist.Create(cfg)
	if err != nil {
		cfg.Transport.Shutdown()
		t.Fatal(err)
	}
	t.Cleanup(func() { ml.Shutdown() })
	return &mlNode{name: name, addr: addr, ml: ml}
}

// aliveSet is the names m considers alive or suspect (not dead or left).
func aliveSet(m *mlNode) map[string]bool {
	out := map[string]bool{}
	for _, mem := range m.ml.Members() {
		out[mem.Name] = true
	}
	return out
}

func TestMemberlistClusterPartitionAndHeal(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node gossip cluster")
	}
	noLeaks(t)
	n := NewNetwork(3)
	t.Cleanup(func() { n.Close() })
	n1, n2, n3 := startMember(t, n, "n1"), startMember(t, n, "n2"), startMember(t, n, "n3")
	for _, m := range []*mlNode{n2, n3} {
		if _, err := m.ml.Join([]string{n1.addr}); err != nil {
			t.Fatalf("%s join: %v", m.name, err)
		}
	}
	all := []*mlNode{n1, n2, n3}
	testutil.WaitFor(t, 10*time.Second, func() error {
		for _, m := range all {
			if got := aliveSet(m); len(got) != 3 {
				return fmt.Errorf("%s sees %v, want all three", m.name, got)
			}
		}
		return nil
	})

	must(t, n.Partition([]string{"n1", "n2"}, []string{"n3"}))
	testutil.WaitFor(t, 15*time.Second, func() error {
		for _, m := range []*mlNode{n1, n2} {
			if got := aliveSet(m); got["n3"] || len(got) != 2 {
				return fmt.Errorf("%s still sees %v, want n3 dead", m.name, got)
			}
		}
		if got := aliveSet(n3); len(got) != 1 {
			return fmt.Errorf("n3 still sees %v, want only itself", got)
		}
		return nil
	})

	n.Heal()
	// memberlist does not contact members it has declared dead, so once both
	// sides gave up on each other a rejoin merges them again, as discovery's
	// rejoin loop does.
	testutil.WaitFor(t, 15*time.Second, func() error {
		for _, m := range all {
			if got := aliveSet(m); len(got) != 3 {
				_, _ = n3.ml.Join([]string{n1.addr})
				return fmt.Errorf("%s sees %v after heal, want all three", m.name, got)
			}
		}
		return nil
	})
}
