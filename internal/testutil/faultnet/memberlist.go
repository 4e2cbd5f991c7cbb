package faultnet

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// MemberlistTransport wraps node's gossip transport. Give the result to
// memberlist.Config.Transport; Memberlist.Shutdown shuts it (and inner)
// down. See the package doc for what it faults.
//
// It starts two goroutines that forward inner's packet and stream channels
// through the fault checks; Shutdown stops and waits for them.
func (n *Network) MemberlistTransport(node string, inner memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
	t := &transport{
		NodeAwareTransport: inner,
		n:                  n,
		node:               node,
		packets:            make(chan *memberlist.Packet),
		streams:            make(chan net.Conn),
		stopping:           make(chan struct{}),
		exit:               make(chan struct{}),
	}
	n.mu.Lock()
	n.packetNodes[node]++
	n.mu.Unlock()
	t.wg.Add(2)
	go t.forwardPackets()
	go t.forwardStreams()
	return t
}

type transport struct {
	memberlist.NodeAwareTransport
	n    *Network
	node string

	packets  chan *memberlist.Packet
	streams  chan net.Conn
	stopping chan struct{} // closed first: forwarders drop instead of deliver
	exit     chan struct{} // closed after inner shut down: forwarders return
	wg       sync.WaitGroup
	once     sync.Once
	err      error
}

// WriteTo sends b unless the packet is dropped by a fault or loss; a dropped
// packet reports success, as UDP would.
func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.dropOut(addr) {
		return time.Now(), nil
	}
	return t.NodeAwareTransport.WriteTo(b, addr)
}

// WriteToAddress is WriteTo for memberlist's node-aware path.
func (t *transport) WriteToAddress(b []byte, addr memberlist.Address) (time.Time, error) {
	if t.dropOut(addr.Addr) {
		return time.Now(), nil
	}
	return t.NodeAwareTransport.WriteToAddress(b, addr)
}

func (t *transport) dropOut(addr string) bool {
	return t.n.dropPacket(t.node, t.n.nodeOf(addr), true)
}

// PacketCh delivers the incoming packets that survive the faults.
func (t *transport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// StreamCh delivers incoming streams, wrapped; streams from a node cut off
// from this one are closed instead.
func (t *transport) StreamCh() <-chan net.Conn { return t.streams }

// DialTimeout blocks like a blackhole across a fault, else dials and wraps.
func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.dialTimeout(addr, timeout, func() (net.Conn, error) {
		return t.NodeAwareTransport.DialTimeout(addr, timeout)
	})
}

// DialAddressTimeout is DialTimeout for memberlist's node-aware path.
func (t *transport) DialAddressTimeout(addr memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.dialTimeout(addr.Addr, timeout, func() (net.Conn, error) {
		return t.NodeAwareTransport.DialAddressTimeout(addr, timeout)
	})
}

func (t *transport) dialTimeout(addr string, timeout time.Duration, inner func() (net.Conn, error)) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return t.n.dial(ctx, t.node, addr, func(context.Context) (net.Conn, error) { return inner() })
}

// Shutdown shuts inner down, then stops the forwarders. They keep draining
// inner's channels until inner has returned, because inner's receive loops
// block on unbuffered sends and inner waits for them.
func (t *transport) Shutdown() error {
	t.once.Do(func() {
		close(t.stopping)
		t.err = t.NodeAwareTransport.Shutdown()
		close(t.exit)
		t.wg.Wait()
		t.n.mu.Lock()
		if t.n.packetNodes[t.node]--; t.n.packetNodes[t.node] <= 0 {
			delete(t.n.packetNodes, t.node)
		}
		t.n.mu.Unlock()
	})
	return t.err
}

func (t *transport) forwardPackets() {
	defer t.wg.Done()
	in := t.NodeAwareTransport.PacketCh()
	for {
		select {
		case p, ok := <-in:
			if !ok {
				in = nil // a closed inner channel must not spin the loop
				continue
			}
			if !t.keepPacket(p) {
				continue
			}
			select {
			case t.packets <- p:
			case <-t.stopping:
			}
		case <-t.exit:
			return
		}
	}
}

// keepPacket applies partitions and cuts to an incoming packet, and loss
// too when the sender has no wrapped transport that already rolled for it.
func (t *transport) keepPacket(p *memberlist.Packet) bool {
	if p == nil || p.From == nil {
		return true
	}
	t.n.mu.Lock()
	from := t.n.nodeOfLocked(p.From.String())
	senderWrapped := t.n.packetNodes[from] > 0
	t.n.mu.Unlock()
	return !t.n.dropPacket(from, t.node, !senderWrapped)
}

func (t *transport) forwardStreams() {
	defer t.wg.Done()
	in := t.NodeAwareTransport.StreamCh()
	for {
		select {
		case raw, ok := <-in:
			if !ok {
				in = nil
				continue
			}
			c, ok := t.n.accepted(raw, t.node)
			if !ok {
				continue
			}
			select {
			case t.streams <- c:
			case <-t.stopping:
				c.Close()
			}
		case <-t.exit:
			return
		}
	}
}
