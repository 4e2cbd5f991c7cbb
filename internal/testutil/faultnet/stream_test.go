package faultnet

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// blackholeWait is the dial timeout the tests use across a fault: long
// enough to tell a blackhole from a refusal, short enough to keep tests fast.
const blackholeWait = 300 * time.Millisecond

// expectBlackholed dials from -> to and wants a timeout after about
// blackholeWait: a blackhole, not a fast refusal.
func expectBlackholed(t *testing.T, from, to *streamNode) {
	t.Helper()
	start := time.Now()
	c, err := dialTo(from, to, blackholeWait)
	elapsed := time.Since(start)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s -> %s succeeded across a fault", from.name, to.name)
	}
	if !isTimeout(err) || !errors.Is(err, ErrBlackholed) {
		t.Fatalf("dial %s -> %s: got %v, want a blackhole timeout", from.name, to.name, err)
	}
	if elapsed < blackholeWait-20*time.Millisecond {
		t.Fatalf("dial %s -> %s failed after %s, before its %s deadline", from.name, to.name, elapsed, blackholeWait)
	}
}

func TestPartitionBlocksBothDirectionsAndHealRestores(t *testing.T) {
	n, a, b := twoWrappedNodes(t)
	c := newStreamNode(t, n, "c", true, true)

	if err := n.Partition([]string{"a"}, []string{"b", "c"}); err != nil {
		t.Fatal(err)
	}
	expectBlackholed(t, a, b)
	expectBlackholed(t, b, a)
	expectBlackholed(t, c, a)
	bc, cb := mustConnect(t, b, c)
	if err := send(bc, cb, "same side"); err != nil {
		t.Fatal(err)
	}

	n.Heal()
	ab, ba := mustConnect(t, a, b)
	if err := send(ab, ba, "a to b"); err != nil {
		t.Fatal(err)
	}
	if err := send(ba, ab, "b to a"); err != nil {
		t.Fatal(err)
	}
	if _, err := dialTo(b, a, 5*time.Second); err != nil {
		t.Fatalf("b -> a after heal: %v", err)
	}
}

func TestBlackholeTimeoutBoundsDialWithoutDeadline(t *testing.T) {
	noLeaks(t)
	n := NewNetwork(1)
	defer n.Close()
	n.SetBlackholeTimeout(100 * time.Millisecond)
	a := newStreamNode(t, n, "a", true, true)
	b := newStreamNode(t, n, "b", true, true)
	if err := n.Cut("a", "b"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := dialTo(a, b, time.Hour)
	if !isTimeout(err) || time.Since(start) > 5*time.Second {
		t.Fatalf("dial across cut with a long context: %v after %s, want a timeout after about 100ms", err, time.Since(start))
	}
}

func TestCutBlocksOneDirectionOnly(t *testing.T) {
	n, a, b := twoWrappedNodes(t)
	if err := n.Cut("a", "b"); err != nil {
		t.Fatal(err)
	}
	if !n.Blocked("a", "b") || n.Blocked("b", "a") {
		t.Fatalf("Blocked(a,b)=%v Blocked(b,a)=%v, want true false", n.Blocked("a", "b"), n.Blocked("b", "a"))
	}
	expectBlackholed(t, a, b)

	// b can still open a stream to a, and its writes arrive.
	ba, ab := mustConnect(t, b, a)
	if err := send(ba, ab, "b to a"); err != nil {
		t.Fatal(err)
	}
	// a's writes are held until the write deadline.
	_ = ab.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := ab.Write([]byte("x")); !isTimeout(err) || !errors.Is(err, ErrBlackholed) {
		t.Fatalf("a's write across the cut: %v, want a blackhole timeout", err)
	}
	_ = ba.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := ba.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("b read across the cut: %v, want a timeout", err)
	}

	n.Heal()
	if err := send(ab, ba, "after heal"); err != nil {
		t.Fatal(err)
	}
}

func TestHeldWriteGoesAheadOnHeal(t *testing.T) {
	n, a, b := twoWrappedNodes(t)
	if err := n.Cut("a", "b"); err != nil {
		t.Fatal(err)
	}
	ba, ab := mustConnect(t, b, a) // b -> a is open under the cut
	_ = ab.SetWriteDeadline(time.Now().Add(10 * time.Second))
	done := make(chan error, 1)
	go func() {
		_, err := ab.Write([]byte("held"))
		done <- err
	}()
	n.Heal()
	if err := <-done; err != nil {
		t.Fatalf("held write after heal: %v", err)
	}
	_ = ba.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(ba, buf); err != nil || string(buf) != "held" {
		t.Fatalf("read %q, %v; want \"held\"", buf, err)
	}
}

func TestStreamBreaksWhenPartitionStarts(t *testing.T) {
	n, a, b := twoWrappedNodes(t)
	ab, ba := mustConnect(t, a, b)
	if err := send(ab, ba, "before"); err != nil {
		t.Fatal(err)
	}
	if err := n.Partition([]string{"a"}, []string{"b"}); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]net.Conn{"dialing end": ab, "accepting end": ba} {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := c.Read(make([]byte, 1))
		if err == nil || isTimeout(err) {
			t.Fatalf("%s read after partition: %v, want a broken stream", name, err)
		}
	}
	// A healed partition does not resurrect broken streams, but new ones work.
	n.Heal()
	ab2, ba2 := mustConnect(t, a, b)
	if err := send(ab2, ba2, "after"); err != nil {
		t.Fatal(err)
	}
}

// TestOneSideWrapped covers a connection whose other end is a plain socket:
// the wrapped end alone enforces both directions.
func TestOneSideWrapped(t *testing.T) {
	noLeaks(t)
	n := NewNetwork(1)
	defer n.Close()
	a := newStreamNode(t, n, "a", false, true) // only a's dial side wrapped
	b := newStreamNode(t, n, "b", false, false)

	if err := n.Cut("b", "a"); err != nil {
		t.Fatal(err)
	}
	ab, ba := mustConnect(t, a, b) // a -> b is open
	if _, err := ba.Write([]byte("z")); err != nil {
		t.Fatalf("plain write: %v", err)
	}
	_ = ab.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := ab.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("a read of data across the cut: %v, want a timeout", err)
	}
	if err := send(ab, ba, "a to b"); err != nil {
		t.Fatal(err)
	}
	n.Heal()
	_ = ab.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1)
	if _, err := io.ReadFull(ab, buf); err != nil || string(buf) != "z" {
		t.Fatalf("held data after heal: %q, %v; want \"z\"", buf, err)
	}

	// A new partition closes the stream: the plain end sees it break.
	if err := n.Partition([]string{"a"}, []string{"b"}); err != nil {
		t.Fatal(err)
	}
	_ = ba.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := ba.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("plain end after partition: %v, want a broken stream", err)
	}
}

// TestAcceptSideAttributesWrappedDialer: the accepting end learns the
// dialer's node from the wrapped dial, though the source port is ephemeral.
func TestAcceptSideAttributesWrappedDialer(t *testing.T) {
	_, a, b := twoWrappedNodes(t)
	_, ba := mustConnect(t, a, b)
	fc, ok := ba.(*conn)
	if !ok {
		t.Fatalf("accepted %T, want the wrapper", ba)
	}
	if got := fc.remoteNode(); got != "a" {
		t.Fatalf("accepting end attributes the stream to %q, want a", got)
	}
}

func TestDelayAppliesToWrites(t *testing.T) {
	n, a, b := twoWrappedNodes(t)
	ab, ba := mustConnect(t, a, b)
	const d = 250 * time.Millisecond
	if err := n.SetDelay("a", "b", d); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := send(ab, ba, "slow"); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < d {
		t.Fatalf("delayed write took %s, want >= %s", el, d)
	}
	start = time.Now()
	if err := send(ba, ab, "fast"); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el >= d {
		t.Fatalf("reverse direction took %s; it has no delay", el)
	}
	// A write deadline shorter than the delay ends the write with a timeout.
	_ = ab.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := ab.Write([]byte("x")); !isTimeout(err) {
		t.Fatalf("write with deadline inside the delay: %v, want a timeout", err)
	}
	if err := n.SetDelay("a", "b", 0); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := send(ab, ba, "again"); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el >= d {
		t.Fatalf("write after removing the delay took %s", el)
	}
}

func TestUnknownAddressesUntouched(t *testing.T) {
	noLeaks(t)
	n := NewNetwork(1)
	defer n.Close()
	a := newStreamNode(t, n, "a", true, true)
	// Not registered and not a wrapped listener: unknown to the Network.
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	other := &streamNode{name: "unknown", addr: raw.Addr().String()}
	if err := n.Partition([]string{"a"}, []string{"b"}); err != nil {
		t.Fatal(err)
	}
	if err := n.Cut("a", "b"); err != nil {
		t.Fatal(err)
	}
	c, err := dialTo(a, other, 5*time.Second)
	if err != nil {
		t.Fatalf("dial to an unknown address: %v", err)
	}
	defer c.Close()
	peer, err := raw.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if err := n.Partition([]string{"a"}, []string{"x"}, []string{"y"}); err != nil {
		t.Fatal(err)
	}
	if err := send(c, peer, "untouched"); err != nil {
		t.Fatal(err)
	}
	if err := send(peer, c, "both ways"); err != nil {
		t.Fatal(err)
	}
}

func TestCloseEndsWaitsAndConnections(t *testing.T) {
	noLeaks(t)
	n := NewNetwork(1)
	a := newStreamNode(t, n, "a", true, true)
	b := newStreamNode(t, n, "b", true, true)
	if err := n.Cut("a", "b"); err != nil {
		t.Fatal(err)
	}
	_, ab := mustConnect(t, b, a)
	done := make(chan error, 1)
	go func() {
		_, err := ab.Write([]byte("held forever"))
		done <- err
	}()
	n.Close()
	if err := <-done; err == nil {
		t.Fatal("held write survived Network.Close")
	}
	if _, err := dialTo(b, a, time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("dial after Close: %v, want ErrClosed", err)
	}
}
