package discovery

import (
	"io"
	"log"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/clusteragent/agent/internal/clock"
)

func newTestTransport(t testing.TB, bind string) *netTransport {
	t.Helper()
	tr, err := newTransport(bind, 0, log.New(io.Discard, "", 0), clock.Real{}, nil)
	if err != nil {
		t.Fatalf("newTransport(%s): %v", bind, err)
	}
	t.Cleanup(func() { _ = tr.Shutdown() })
	return tr
}

func recvPacket(t *testing.T, tr *netTransport) *memberlist.Packet {
	t.Helper()
	select {
	case p := <-tr.PacketCh():
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no packet within 5s")
		return nil
	}
}

// A packet is handed on in a buffer of its own size: memberlist keeps it
// queued, and a 64 KiB buffer per packet was most of a mass join's garbage.
func TestTransportPacketsAreExactSize(t *testing.T) {
	t.Parallel()
	// Bound to every interface, the socket is dual-stack: a sender on
	// 127.0.0.1 must still arrive as 127.0.0.1, not ::ffff:127.0.0.1.
	for _, bind := range []string{"127.0.0.1", "0.0.0.0"} {
		rx, tx := newTestTransport(t, bind), newTestTransport(t, "127.0.0.1")
		to := net.JoinHostPort("127.0.0.1", strconv.Itoa(rx.GetAutoBindPort()))
		for _, size := range []int{1, 300, 1400, 9000} {
			msg := make([]byte, size)
			for i := range msg {
				msg[i] = byte(i)
			}
			if _, err := tx.WriteTo(msg, to); err != nil {
				t.Fatalf("bind %s: WriteTo %d bytes: %v", bind, size, err)
			}
			p := recvPacket(t, rx)
			if len(p.Buf) != size || cap(p.Buf) != size {
				t.Fatalf("bind %s: %d-byte packet arrived with len %d cap %d", bind, size, len(p.Buf), cap(p.Buf))
			}
			if string(p.Buf) != string(msg) {
				t.Fatalf("bind %s: %d-byte packet arrived altered", bind, size)
			}
			want := net.JoinHostPort("127.0.0.1", strconv.Itoa(tx.GetAutoBindPort()))
			if p.From.String() != want {
				t.Fatalf("bind %s: packet from %s, want %s", bind, p.From, want)
			}
		}
	}
}

// Buffers are not shared between packets: the next read must not overwrite
// one memberlist still holds.
func TestTransportPacketsDoNotShareBuffers(t *testing.T) {
	t.Parallel()
	rx, tx := newTestTransport(t, "127.0.0.1"), newTestTransport(t, "127.0.0.1")
	to := net.JoinHostPort("127.0.0.1", strconv.Itoa(rx.GetAutoBindPort()))
	if _, err := tx.WriteTo([]byte("first"), to); err != nil {
		t.Fatal(err)
	}
	first := recvPacket(t, rx)
	if _, err := tx.WriteTo([]byte("SECOND"), to); err != nil {
		t.Fatal(err)
	}
	second := recvPacket(t, rx)
	if string(first.Buf) != "first" || string(second.Buf) != "SECOND" {
		t.Fatalf("packets read %q and %q, want \"first\" and \"SECOND\"", first.Buf, second.Buf)
	}
}

func TestTransportStreams(t *testing.T) {
	t.Parallel()
	rx, tx := newTestTransport(t, "127.0.0.1"), newTestTransport(t, "127.0.0.1")
	to := net.JoinHostPort("127.0.0.1", strconv.Itoa(rx.GetAutoBindPort()))
	out, err := tx.DialTimeout(to, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var in net.Conn
	select {
	case in = <-rx.StreamCh():
	case <-time.After(5 * time.Second):
		t.Fatal("no stream accepted within 5s")
	}
	defer in.Close()
	if _, err := out.Write([]byte("push/pull")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("push/pull"))
	if _, err := io.ReadFull(in, buf); err != nil || string(buf) != "push/pull" {
		t.Fatalf("stream read %q, %v", buf, err)
	}
}

// Shutdown returns while a packet waits for a reader that never comes, as
// when memberlist.Create fails after the transport has started.
func TestTransportShutdownWithNoReader(t *testing.T) {
	t.Parallel()
	rx, err := newTransport("127.0.0.1", 0, log.New(io.Discard, "", 0), clock.Real{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tx := newTestTransport(t, "127.0.0.1")
	to := net.JoinHostPort("127.0.0.1", strconv.Itoa(rx.GetAutoBindPort()))
	if _, err := tx.WriteTo([]byte("unread"), to); err != nil {
		t.Fatal(err)
	}
	conn, err := tx.DialTimeout(to, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	done := make(chan error, 1)
	go func() { done <- rx.Shutdown() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return within 5s with a packet and a stream unread")
	}
	if err := rx.Shutdown(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

func TestTransportAdvertiseAddr(t *testing.T) {
	t.Parallel()
	tr := newTestTransport(t, "127.0.0.1")
	tests := []struct {
		ip       string
		port     int
		wantIP   string
		wantPort int
		wantErr  bool
	}{
		{"10.1.2.3", 7000, "10.1.2.3", 7000, false},
		{"", 0, "127.0.0.1", tr.GetAutoBindPort(), false},
		{"not-an-ip", 7000, "", 0, true},
	}
	for _, tt := range tests {
		ip, port, err := tr.FinalAdvertiseAddr(tt.ip, tt.port)
		if tt.wantErr {
			if err == nil {
				t.Errorf("FinalAdvertiseAddr(%q): no error", tt.ip)
			}
			continue
		}
		if err != nil || ip.String() != tt.wantIP || port != tt.wantPort {
			t.Errorf("FinalAdvertiseAddr(%q, %d) = %s, %d, %v; want %s, %d", tt.ip, tt.port, ip, port, err, tt.wantIP, tt.wantPort)
		}
	}
}

// boundTransport is what the receive benchmarks need of either transport.
type boundTransport interface {
	WriteTo(b []byte, addr string) (time.Time, error)
	PacketCh() <-chan *memberlist.Packet
	GetAutoBindPort() int
}

// benchReceive times one 300-byte packet from tx to rx and its hand-over.
func benchReceive(b *testing.B, rx, tx boundTransport) {
	to := net.JoinHostPort("127.0.0.1", strconv.Itoa(rx.GetAutoBindPort()))
	msg := make([]byte, 300)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tx.WriteTo(msg, to); err != nil {
			b.Fatal(err)
		}
		<-rx.PacketCh()
	}
}

// memberlist's own NetTransport allocates 64 KiB per packet read; this one
// allocates the packet's size and little else.
func BenchmarkTransportReceive(b *testing.B) {
	benchReceive(b, newTestTransport(b, "127.0.0.1"), newTestTransport(b, "127.0.0.1"))
}

// The same with memberlist's NetTransport, for comparison.
func BenchmarkMemberlistTransportReceive(b *testing.B) {
	newNT := func() *memberlist.NetTransport {
		nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{"127.0.0.1"}, Logger: log.New(io.Discard, "", 0),
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = nt.Shutdown() })
		return nt
	}
	benchReceive(b, newNT(), newNT())
}
