package faultnet

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"
)

// DefaultBlackholeTimeout bounds how long a dial across a fault blocks when
// its context has no earlier deadline. It is short so that a test dialing
// with context.Background() still gets an answer, and long enough that the
// caller sees a hang rather than a refusal.
const DefaultBlackholeTimeout = 2 * time.Second

// link is one direction between two nodes.
type link struct{ from, to string }

// faults is an immutable snapshot of the blocking faults. Each change builds
// a new one, so "what did this change newly block" is a comparison of two
// snapshots.
type faults struct {
	group map[string]int // node -> partition group; absent: talks to all
	cuts  map[link]bool
}

// blocked reports whether traffic from -> to is dropped. Unknown nodes ("")
// and a node talking to itself are never blocked.
func (f *faults) blocked(from, to string) bool {
	if from == "" || to == "" || from == to {
		return false
	}
	if f.cuts[link{from, to}] {
		return true
	}
	gf, okf := f.group[from]
	gt, okt := f.group[to]
	return okf && okt && gf != gt
}

// Network is the fault state shared by every wrapper made from it. All its
// methods are safe for concurrent use.
type Network struct {
	seed int64

	mu               sync.Mutex
	faults           *faults
	delay            map[link]time.Duration
	loss             map[link]float64
	rngs             map[link]*rand.Rand
	addrs            map[string]string // canonical address -> node
	dialed           map[string]string // local address of a wrapped dial -> dialing node
	conns            map[*conn]struct{}
	packetNodes      map[string]int // node -> live wrapped gossip transports
	blackholeTimeout time.Duration
	changed          chan struct{} // closed and replaced at every fault change
	closed           bool
	done             chan struct{}
}

// NewNetwork returns a Network with no faults. seed makes packet loss
// reproducible.
func NewNetwork(seed int64) *Network {
	return &Network{
		seed:             seed,
		faults:           &faults{},
		delay:            map[link]time.Duration{},
		loss:             map[link]float64{},
		rngs:             map[link]*rand.Rand{},
		addrs:            map[string]string{},
		dialed:           map[string]string{},
		conns:            map[*conn]struct{}{},
		packetNodes:      map[string]int{},
		blackholeTimeout: DefaultBlackholeTimeout,
		changed:          make(chan struct{}),
		done:             make(chan struct{}),
	}
}

// Register maps addresses ("host:port") to node. An address may belong to
// one node only; registering it again for the same node is a no-op.
func (n *Network) Register(node string, addrs ...string) error {
	if node == "" {
		return fmt.Errorf("%w: Register: node name is empty", ErrInvalid)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, a := range addrs {
		key, err := canonicalAddr(a)
		if err != nil {
			return fmt.Errorf("%w: Register(%q): %v", ErrInvalid, node, err)
		}
		if owner, ok := n.addrs[key]; ok && owner != node {
			return fmt.Errorf("%w: Register(%q): address %s already belongs to node %q", ErrInvalid, node, a, owner)
		}
		n.addrs[key] = node
	}
	return nil
}

// Partition splits the named nodes into groups that cannot reach each other
// in either direction. It replaces any earlier partition; one-way cuts stay.
// Nodes named in no group keep talking to everyone. Connections that the new
// partition blocks are closed.
func (n *Network) Partition(groups ...[]string) error {
	group := map[string]int{}
	for i, g := range groups {
		for _, node := range g {
			if node == "" {
				return fmt.Errorf("%w: Partition: group %d has an empty node name", ErrInvalid, i)
			}
			if j, ok := group[node]; ok && j != i {
				return fmt.Errorf("%w: Partition: node %q is in groups %d and %d", ErrInvalid, node, j, i)
			}
			group[node] = i
		}
	}
	n.update(func(f *faults) { f.group = group })
	return nil
}

// Cut drops all traffic from -> to (one way); to -> from is unaffected.
// Connections between the two are closed when the cut is new.
func (n *Network) Cut(from, to string) error {
	if from == "" || to == "" || from == to {
		return fmt.Errorf("%w: Cut(%q, %q): need two different, non-empty node names", ErrInvalid, from, to)
	}
	n.update(func(f *faults) { f.cuts[link{from, to}] = true })
	return nil
}

// Heal removes every partition and cut. Delay and loss stay until set to 0.
// Dials and writes waiting on a fault go ahead.
func (n *Network) Heal() {
	n.update(func(f *faults) {
		f.group = map[string]int{}
		f.cuts = map[link]bool{}
	})
}

// SetDelay holds every stream write from -> to for d before it is sent.
// 0 removes the delay.
func (n *Network) SetDelay(from, to string, d time.Duration) error {
	if from == "" || to == "" {
		return fmt.Errorf("%w: SetDelay(%q, %q): node name is empty", ErrInvalid, from, to)
	}
	if d < 0 {
		return fmt.Errorf("%w: SetDelay(%q, %q): delay %s is negative", ErrInvalid, from, to, d)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if d == 0 {
		delete(n.delay, link{from, to})
	} else {
		n.delay[link{from, to}] = d
	}
	return nil
}

// SetLoss drops each gossip packet from -> to with probability p (0..1).
// Streams are not affected: TCP would retransmit. 0 removes the loss.
func (n *Network) SetLoss(from, to string, p float64) error {
	if from == "" || to == "" {
		return fmt.Errorf("%w: SetLoss(%q, %q): node name is empty", ErrInvalid, from, to)
	}
	if !(p >= 0 && p <= 1) { // also rejects NaN
		return fmt.Errorf("%w: SetLoss(%q, %q): probability %v is not in [0, 1]", ErrInvalid, from, to, p)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if p == 0 {
		delete(n.loss, link{from, to})
	} else {
		n.loss[link{from, to}] = p
	}
	return nil
}

// SetBlackholeTimeout sets the longest a dial across a fault blocks when its
// context allows longer. d <= 0 restores DefaultBlackholeTimeout.
func (n *Network) SetBlackholeTimeout(d time.Duration) {
	if d <= 0 {
		d = DefaultBlackholeTimeout
	}
	n.mu.Lock()
	n.blackholeTimeout = d
	n.mu.Unlock()
}

// Blocked reports whether traffic from -> to is currently dropped by a
// partition or cut.
func (n *Network) Blocked(from, to string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.faults.blocked(from, to)
}

// Close closes every connection made through the Network's wrappers and
// ends every wait on a fault with ErrClosed. Listeners and gossip transports
// are closed by their owners. Close is idempotent.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	close(n.done)
	conns := n.connList()
	n.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	return nil
}

// update applies change to a copy of the faults, wakes every waiter and
// closes the connections the change newly blocks in either direction.
func (n *Network) update(change func(*faults)) {
	n.mu.Lock()
	old := n.faults
	next := &faults{group: old.group, cuts: make(map[link]bool, len(old.cuts)+1)}
	for l := range old.cuts {
		next.cuts[l] = true
	}
	change(next)
	n.faults = next
	close(n.changed)
	n.changed = make(chan struct{})
	var broken []*conn
	for c := range n.conns {
		l, r := c.local, n.remoteOf(c)
		if (next.blocked(l, r) && !old.blocked(l, r)) || (next.blocked(r, l) && !old.blocked(r, l)) {
			broken = append(broken, c)
		}
	}
	n.mu.Unlock()
	for _, c := range broken {
		c.Close()
	}
}

// remoteOf resolves (once) the node at the other end of c. n.mu held.
func (n *Network) remoteOf(c *conn) string {
	if c.remote == "" {
		c.remote = n.nodeOfLocked(c.remoteAddr)
	}
	return c.remote
}

// nodeOfLocked maps an address to a node: registered addresses first, then
// source addresses of wrapped dials. "" means unknown. n.mu held.
func (n *Network) nodeOfLocked(addr string) string {
	key, err := canonicalAddr(addr)
	if err != nil {
		return ""
	}
	if node, ok := n.addrs[key]; ok {
		return node
	}
	return n.dialed[key]
}

// isClosed reports whether Close was called: every wrapped connection then
// fails, whether or not its peer could be identified.
func (n *Network) isClosed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closed
}

func (n *Network) nodeOf(addr string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nodeOfLocked(addr)
}

// dropPacket decides the fate of one gossip packet from -> to. withLoss is
// false when the sender's own wrapper already rolled for loss.
func (n *Network) dropPacket(from, to string, withLoss bool) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.faults.blocked(from, to) {
		return true
	}
	if !withLoss || from == "" || to == "" {
		return false
	}
	p, ok := n.loss[link{from, to}]
	if !ok {
		return false
	}
	return n.rngLocked(link{from, to}).Float64() < p
}

func (n *Network) rngLocked(l link) *rand.Rand {
	r, ok := n.rngs[l]
	if !ok {
		h := fnv.New64a()
		h.Write([]byte(l.from))
		h.Write([]byte{0})
		h.Write([]byte(l.to))
		r = rand.New(rand.NewPCG(uint64(n.seed), h.Sum64()))
		n.rngs[l] = r
	}
	return r
}

func (n *Network) delayOf(from, to string) time.Duration {
	if from == "" || to == "" {
		return 0
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.delay[link{from, to}]
}

// state returns whether from -> to is blocked now, plus the channel closed
// at the next fault change and the Network's done channel.
func (n *Network) state(from, to string) (blocked bool, changed, done <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.faults.blocked(from, to), n.changed, n.done
}

func (n *Network) connList() []*conn {
	out := make([]*conn, 0, len(n.conns))
	for c := range n.conns {
		out = append(out, c)
	}
	return out
}

// canonicalAddr normalises "host:port" so that 127.0.0.1:80 written in
// different ways (IPv4-mapped IPv6, zero-padded port) is one key. Host names
// are kept as written: tests use IP literals.
func canonicalAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("address %q: %v", addr, err)
	}
	if host == "" || port == "" {
		return "", fmt.Errorf("address %q: need host:port", addr)
	}
	if ip := net.ParseIP(host); ip != nil {
		if ip4 := ip.To4(); ip4 != nil {
			ip = ip4
		}
		host = ip.String()
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", fmt.Errorf("address %q: port is not a number in 0..65535", addr)
	}
	return net.JoinHostPort(host, strconv.FormatUint(p, 10)), nil
}
