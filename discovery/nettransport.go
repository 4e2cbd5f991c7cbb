package discovery

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-metrics"
	"github.com/hashicorp/go-sockaddr"
	"github.com/hashicorp/memberlist"

	"github.com/clusteragent/agent/internal/clock"
)

// netTransport is memberlist's UDP and TCP transport on one bind address,
// written here for what it allocates per packet. memberlist's own
// NetTransport reads every UDP packet into a fresh 64 KiB buffer and hands
// that buffer on, so each ping, ack and gossip packet of a few hundred bytes
// costs 64 KiB of zeroed heap until memberlist is done with it. In a mass
// join of 300 members in one process that was 14% of the CPU in the
// allocation alone and drove the collector (about a third of the CPU) that
// starved the probes into false suspicions. This one reads into one buffer
// per listener and hands on an exact-size copy; it sends to literal
// addresses without resolving them. The wire format, the socket options
// and the metrics are memberlist's.
type netTransport struct {
	bindIP net.IP
	tcpLn  *net.TCPListener
	udpLn  *net.UDPConn
	logger *log.Logger
	clock  clock.Clock
	labels []metrics.Label

	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	// done is closed by Shutdown: a loop waiting to hand something to
	// memberlist gives up, so Shutdown never waits on a reader that is gone
	// (memberlist.Create failing after the transport started, say).
	done     chan struct{}
	stopping atomic.Bool
	wg       sync.WaitGroup
}

var _ memberlist.NodeAwareTransport = (*netTransport)(nil)

// The UDP socket's receive buffer: memberlist's size (2 MiB), halved until
// the kernel accepts it. A burst of gossip waits there while the reader
// hands packets to memberlist one at a time.
const udpRecvBuf = 2 << 20

// maxUDPPacket is the largest datagram the reader takes whole.
const maxUDPPacket = 65536

// newTransport binds TCP and UDP on bindAddr:port (port 0: one the kernel
// picks for TCP, then the same for UDP) and starts reading.
func newTransport(bindAddr string, port int, logger *log.Logger, clk clock.Clock, labels []metrics.Label) (*netTransport, error) {
	ip := net.ParseIP(bindAddr)
	if ip == nil {
		return nil, fmt.Errorf("bind address %q is not an IP", bindAddr)
	}
	tcpLn, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: port})
	if err != nil {
		return nil, err
	}
	port = tcpLn.Addr().(*net.TCPAddr).Port
	udpLn, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port})
	if err != nil {
		_ = tcpLn.Close()
		return nil, err
	}
	if err := setRecvBuffer(udpLn); err != nil {
		_ = tcpLn.Close()
		_ = udpLn.Close()
		return nil, fmt.Errorf("set UDP receive buffer: %w", err)
	}
	t := &netTransport{
		bindIP: ip, tcpLn: tcpLn, udpLn: udpLn, logger: logger, clock: clk, labels: labels,
		// Unbuffered, as memberlist's: the reader waits while memberlist
		// handles a packet, and the socket's buffer holds the rest.
		packetCh: make(chan *memberlist.Packet),
		streamCh: make(chan net.Conn),
		done:     make(chan struct{}),
	}
	t.wg.Add(2)
	go t.acceptLoop()
	go t.readLoop()
	return t, nil
}

func setRecvBuffer(c *net.UDPConn) error {
	var err error
	for size := udpRecvBuf; size > 0; size /= 2 {
		if err = c.SetReadBuffer(size); err == nil {
			return nil
		}
	}
	return err
}

// GetAutoBindPort is the port bound, also when the kernel picked it.
func (t *netTransport) GetAutoBindPort() int { return t.tcpLn.Addr().(*net.TCPAddr).Port }

// FinalAdvertiseAddr is ip and port when ip is set; else the bound IP (a
// private one when bound to every interface) and the bound port.
func (t *netTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip != "" {
		addr := net.ParseIP(ip)
		if addr == nil {
			return nil, 0, fmt.Errorf("advertise address %q is not an IP", ip)
		}
		if v4 := addr.To4(); v4 != nil {
			addr = v4
		}
		return addr, port, nil
	}
	if !t.bindIP.IsUnspecified() {
		return t.bindIP, t.GetAutoBindPort(), nil
	}
	private, err := sockaddr.GetPrivateIP()
	if err != nil {
		return nil, 0, fmt.Errorf("find a private IP to advertise: %w", err)
	}
	addr := net.ParseIP(private)
	if addr == nil {
		return nil, 0, errors.New("no private IP address found to advertise; set the advertise address")
	}
	return addr, t.GetAutoBindPort(), nil
}

// WriteTo sends one packet to addr.
func (t *netTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress sends one packet. memberlist's addresses are IP:port
// literals, parsed here without the resolver's allocations; anything else
// is resolved.
func (t *netTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	var err error
	if ap, perr := netip.ParseAddrPort(a.Addr); perr == nil {
		_, err = t.udpLn.WriteToUDPAddrPort(b, ap)
	} else {
		var ua *net.UDPAddr
		if ua, err = net.ResolveUDPAddr("udp", a.Addr); err == nil {
			_, err = t.udpLn.WriteTo(b, ua)
		}
	}
	// memberlist times probes against its own time.Now; the send time it
	// is given must be on the same clock.
	return time.Now(), err //nolint:forbidigo // compared with memberlist's own time.Now
}

// PacketCh carries the packets received.
func (t *netTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// DialTimeout opens a stream to addr.
func (t *netTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a stream to a.Addr.
func (t *netTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	return d.Dial("tcp", a.Addr)
}

// StreamCh carries the streams accepted.
func (t *netTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// Shutdown closes both listeners and waits for their loops. memberlist
// calls it once it has stopped reading the channels.
func (t *netTransport) Shutdown() error {
	if t.stopping.Swap(true) {
		t.wg.Wait()
		return nil
	}
	close(t.done)
	_ = t.tcpLn.Close()
	_ = t.udpLn.Close()
	t.wg.Wait()
	return nil
}

// acceptLoop hands accepted connections to memberlist. An accept error
// other than the listener closing (too many open files, say) is retried
// after a pause that doubles up to a second, so that it neither spins
// nor stops accepting for good.
func (t *netTransport) acceptLoop() {
	defer t.wg.Done()
	const minPause, maxPause = 5 * time.Millisecond, time.Second
	var pause time.Duration
	for {
		conn, err := t.tcpLn.AcceptTCP()
		if err != nil {
			if t.stopping.Load() {
				return
			}
			pause = min(max(2*pause, minPause), maxPause)
			t.logger.Printf("[ERR] memberlist: Error accepting TCP connection: %v", err)
			select {
			case <-t.done:
				return
			case <-t.clock.After(pause):
			}
			continue
		}
		pause = 0
		select {
		case t.streamCh <- conn:
		case <-t.done:
			_ = conn.Close()
			return
		}
	}
}

// readLoop hands each datagram to memberlist as an exact-size copy of
// the one read buffer.
func (t *netTransport) readLoop() {
	defer t.wg.Done()
	buf := make([]byte, maxUDPPacket)
	for {
		n, from, err := t.udpLn.ReadFromUDPAddrPort(buf)
		// memberlist measures round trips from this stamp with its own
		// time.Now.
		now := time.Now() //nolint:forbidigo // compared with memberlist's own time.Now
		if err != nil {
			if t.stopping.Load() {
				return
			}
			t.logger.Printf("[ERR] memberlist: Error reading UDP packet: %v", err)
			continue
		}
		if n < 1 {
			t.logger.Printf("[ERR] memberlist: UDP packet too short (%d bytes) %s", n, from)
			continue
		}
		metrics.IncrCounterWithLabels([]string{"memberlist", "udp", "received"}, float32(n), t.labels)
		// A socket bound to every interface is dual-stack: its IPv4 peers
		// arrive as ::ffff:a.b.c.d, which memberlist would print and
		// compare as IPv6.
		peer := netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		own := make([]byte, n)
		copy(own, buf)
		p := &memberlist.Packet{
			Buf:       own,
			From:      net.UDPAddrFromAddrPort(peer),
			Timestamp: now,
		}
		select {
		case t.packetCh <- p:
		case <-t.done:
			return
		}
	}
}
