package raftnode

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

const (
	// transportMaxPool is how many idle connections raft keeps per peer.
	transportMaxPool = 3
	// transportTimeout is raft's I/O deadline per RPC (scaled up for
	// snapshots), and the dial timeout.
	transportTimeout = 10 * time.Second
	// connectTimeout bounds the TCP connect of a dial, under raft's
	// timeout. A server that moved leaves its old address black-holed (no
	// host answers, so nothing refuses): a heartbeat dialing it would sit
	// out raft's whole timeout before asking the address provider again,
	// and the moved server would wait that long for its leader. A connect
	// within one network takes milliseconds; this allows a SYN retransmit.
	connectTimeout = 2 * time.Second
	// handshakeTimeout bounds a TLS handshake on an accepted connection, so
	// a client that connects and stays silent cannot hold a goroutine for
	// longer than this.
	handshakeTimeout = 10 * time.Second
)

// TLSConfigurator supplies mutual-TLS configs for the Raft stream layer. It
// is implemented by *tlsutil.Configurator; configs are fetched per
// connection, so an implementation that reloads certificates affects new
// connections. nil Options.TLS means plain TCP.
type TLSConfigurator interface {
	// IncomingConfig is the server side: it must require and verify client
	// certificates.
	IncomingConfig() *tls.Config
	// OutgoingConfig is the client side: it presents our certificate and
	// verifies the server's.
	OutgoingConfig() *tls.Config
}

// streamLayer is raft's StreamLayer over TCP, optionally with mutual TLS. It
// tracks every connection it hands out so Close can cut them all: raft's
// NetworkTransport does not wait for its per-connection goroutines, and a
// connection left open would keep one alive.
type streamLayer struct {
	ln        net.Listener
	advertise net.Addr
	tls       TLSConfigurator
	incoming  *tls.Config
	dial      func(ctx context.Context, network, address string) (net.Conn, error)
	logger    hclog.Logger

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	// handlers counts accepted connections whose raft handler goroutine
	// has not finished: raft answers heartbeats on that goroutine, outside
	// its main loop, and one already past raft's shutdown check still
	// writes the term to the stable store. Close cuts the connections;
	// waitHandlers lets the node keep its stores open until they are done.
	handlers sync.WaitGroup

	// dialCtx ends when the node closes, cutting dials in flight: raft's
	// shutdown waits for its RPC goroutines, and one dialing a peer that is
	// gone would otherwise hold it for the whole dial timeout.
	dialCtx   context.Context
	stopDials context.CancelFunc

	// handshakeFailures counts refused TLS handshakes on accepted
	// connections: a peer with a bad certificate shows up here.
	handshakeFailures atomic.Uint64
}

// newStreamLayer listens on o.BindAddr (or adopts o.Listener) and works out
// the address peers dial.
func newStreamLayer(o *Options, logger hclog.Logger) (*streamLayer, error) {
	ln := o.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", o.BindAddr); err != nil {
			return nil, fmt.Errorf("raftnode: listen on BindAddr %s: %w", o.BindAddr, err)
		}
	}
	adv, err := advertiseAddr(ln.Addr(), o.AdvertiseAddr)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	dial := o.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	tlsc := o.TLS
	s := &streamLayer{ln: ln, advertise: adv, tls: tlsc, dial: dial, logger: logger, conns: make(map[net.Conn]struct{})}
	s.dialCtx, s.stopDials = context.WithCancel(context.Background())
	if tlsc != nil {
		s.incoming = tlsc.IncomingConfig()
	}
	return s, nil
}

// advertiseAddr resolves the address to advertise from the listener and the
// optional AdvertiseAddr (whose port 0 means "the listener's port").
func advertiseAddr(listen net.Addr, advertise string) (net.Addr, error) {
	lhost, lport, err := splitHostPort(listen.String())
	if err != nil {
		return nil, fmt.Errorf("%w: listener address %q: %v", ErrInvalidOptions, listen, err)
	}
	if advertise == "" {
		if err := checkAdvertisable(lhost); err != nil {
			return nil, fmt.Errorf("%w: listening on %s: %v; set AdvertiseAddr", ErrInvalidOptions, listen, err)
		}
		return addr(listen.String()), nil
	}
	host, port, err := splitHostPort(advertise)
	if err != nil {
		return nil, fmt.Errorf("%w: AdvertiseAddr %q: %v", ErrInvalidOptions, advertise, err)
	}
	if port == 0 {
		port = lport
	}
	return addr(net.JoinHostPort(host, strconv.Itoa(port))), nil
}

// addr is a net.Addr for an advertised "host:port" that may be a name.
type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }

// Addr returns the advertised address; raft uses it as this node's address.
func (s *streamLayer) Addr() net.Addr { return s.advertise }

// Accept waits for a connection. With TLS the handshake is deferred to the
// connection's first read, on raft's per-connection goroutine, so one slow
// client cannot stall the accept loop.
func (s *streamLayer) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	if s.tls != nil {
		c = &serverConn{Conn: tls.Server(c, s.incoming), s: s}
	}
	return s.trackConn(c, true)
}

// Dial connects to a peer; with TLS it completes the handshake before
// returning so certificate problems surface as dial errors in raft's logs.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(s.dialCtx, timeout)
	defer cancel()
	cctx, ccancel := context.WithTimeout(ctx, connectTimeout)
	c, err := s.dial(cctx, "tcp", string(address))
	ccancel()
	if err != nil {
		return nil, err
	}
	if s.tls != nil {
		cfg := s.tls.OutgoingConfig()
		if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
			// A configurator that verifies host names needs one; use the
			// dialed host, as tls.Dial would.
			cfg = cfg.Clone()
			cfg.ServerName, _, _ = net.SplitHostPort(string(address))
		}
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("raftnode: tls handshake with %s: %w", address, err)
		}
		c = tc
	}
	return s.trackConn(c, false)
}

// trackConn registers c so Close can cut it, and counts an accepted one
// until its handler closes it; a closed layer refuses it.
func (s *streamLayer) trackConn(c net.Conn, accepted bool) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return nil, raft.ErrTransportShutdown
	}
	tc := &trackedConn{Conn: c, s: s, accepted: accepted}
	if accepted {
		s.handlers.Add(1)
	}
	s.conns[tc] = struct{}{}
	return tc, nil
}

// waitHandlers waits, at most timeout, until raft's handler of every
// accepted connection has returned (it closes its connection when it
// does), and reports whether they all did. Call it after Close.
func (s *streamLayer) waitHandlers(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// Close stops the listener and closes every connection handed out, which
// ends raft's per-connection goroutines once they finish the request in
// hand (see waitHandlers). It is idempotent.
func (s *streamLayer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	s.stopDials()

	err := s.ln.Close()
	for c := range conns {
		_ = c.(*trackedConn).Conn.Close()
	}
	return err
}

// trackedConn removes itself from the layer's set when closed. The layer's
// Close closes the inner connection, so this Close runs only when its owner
// (for an accepted connection, raft's handler goroutine) is done with it.
type trackedConn struct {
	net.Conn
	s        *streamLayer
	accepted bool
	once     sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
		if c.accepted {
			c.s.handlers.Done()
		}
	})
	return c.Conn.Close()
}

// serverConn runs the server handshake once, with a deadline, before the
// first read or write.
type serverConn struct {
	*tls.Conn
	s    *streamLayer
	once sync.Once
	err  error
}

func (c *serverConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		defer cancel()
		if err := c.Conn.HandshakeContext(ctx); err != nil {
			c.s.handshakeFailures.Add(1)
			if !errors.Is(err, net.ErrClosed) {
				c.s.logger.Warn("refused raft connection: tls handshake failed",
					"remote_addr", c.RemoteAddr().String(), "error", err)
			}
			c.err = fmt.Errorf("raftnode: tls handshake with %s: %w", c.RemoteAddr(), err)
		}
	})
	return c.err
}

func (c *serverConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *serverConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// newTransport wraps the stream layer in raft's NetworkTransport; with
// addrs set, raft dials servers by ID through it.
func newTransport(s *streamLayer, addrs *addressProvider, logger hclog.Logger) *raft.NetworkTransport {
	cfg := &raft.NetworkTransportConfig{
		Stream:  s,
		MaxPool: transportMaxPool,
		Timeout: transportTimeout,
		Logger:  logger.Named("transport"),
	}
	if addrs != nil {
		cfg.ServerAddressProvider = addrs
	}
	return raft.NewNetworkTransportWithConfig(cfg)
}

// errNoAddress makes raft fall back to the address it was given.
var errNoAddress = errors.New("raftnode: no current address for server")

// addressProvider is raft's ServerAddressProvider over Options.AddressOf.
// raft calls it for every RPC to a server; when it fails, raft logs a
// warning and dials the configuration's address. So a server that
// AddressOf does not know is answered from the latest configuration here,
// quietly, and only a server in neither makes raft warn.
type addressProvider struct {
	lookup func(string) (string, bool)
	raft   atomic.Pointer[raft.Raft] // set once raft exists
	// self and selfAddr answer for this node: raft encodes its own address
	// into every RPC it sends through the provider too, before this node
	// is in any configuration or gossip view.
	self     raft.ServerID
	selfAddr raft.ServerAddress
}

// ServerAddr implements raft.ServerAddressProvider.
func (p *addressProvider) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	if id == p.self && p.selfAddr != "" {
		return p.selfAddr, nil
	}
	if a, ok := p.lookup(string(id)); ok && a != "" {
		return raft.ServerAddress(a), nil
	}
	if r := p.raft.Load(); r != nil {
		// The latest configuration is an atomic load in raft, safe and
		// cheap on the RPC goroutines.
		for _, s := range r.GetConfiguration().Configuration().Servers {
			if s.ID == id {
				return s.Address, nil
			}
		}
	}
	return "", errNoAddress
}

// noPipelineTransport is the network transport without pipelined
// AppendEntries; see Options.DisablePipeline.
type noPipelineTransport struct{ *raft.NetworkTransport }

// AppendEntriesPipeline implements raft.Transport: not supported, so raft
// keeps one AppendEntries in flight per follower.
func (noPipelineTransport) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}
