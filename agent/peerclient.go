package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/clusteragent/agent/agent/autopilot"
	"github.com/clusteragent/agent/api"
	"github.com/clusteragent/agent/tlsutil"
)

// peerClient makes agent-to-agent calls: stats for autopilot, peer checks
// for bootstrap, removal and forwarding through the leader. It speaks HTTP
// to the other agent's Raft port (see internal/mux), with mutual TLS when it
// is on, so servers never need each other's client API address.
type peerClient struct {
	token  string
	scheme string
	client *http.Client
}

// newPeerClient builds the client; dial connects to another agent's Raft
// port and sends the agent protocol byte (see internal/mux).
func newPeerClient(token string, tlsc *tlsutil.Configurator, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *peerClient {
	transport := &http.Transport{
		DialContext: dial,
		// Client requests forwarded through a follower reuse these
		// connections: keep as many idle as a busy client pool keeps in
		// flight, or each burst pays new TCP (and TLS) handshakes. With
		// TLS, HTTP/2 multiplexes them over one connection anyway.
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
	}
	scheme := "http"
	if tlsc != nil {
		scheme = "https"
		transport.TLSClientConfig = tlsc.OutgoingConfig()
		transport.ForceAttemptHTTP2 = true
	}
	return &peerClient{token: token, scheme: scheme, client: &http.Client{Transport: transport, Timeout: 30 * time.Second}}
}

var _ autopilot.StatsFetcher = (*peerClient)(nil)

// FetchStats implements autopilot.StatsFetcher.
func (p *peerClient) FetchStats(ctx context.Context, m autopilot.Member) (autopilot.ServerStats, error) {
	st, err := p.Stats(ctx, m.RaftAddr)
	if err != nil {
		return autopilot.ServerStats{}, err
	}
	if st.NodeID != m.ID {
		return autopilot.ServerStats{}, fmt.Errorf("%s answers as node %q, not %q", m.RaftAddr, st.NodeID, m.ID)
	}
	return autopilot.ServerStats{
		LastContact: time.Duration(st.LastContactNanos),
		LastTerm:    st.LastTerm,
		LastIndex:   st.LastIndex,
	}, nil
}

// Stats fetches GET /v1/internal/stats from the server at raftAddr.
func (p *peerClient) Stats(ctx context.Context, raftAddr string) (api.ServerStats, error) {
	c, err := p.api(raftAddr)
	if err != nil {
		return api.ServerStats{}, err
	}
	st, err := c.ServerStats(ctx)
	if err != nil {
		return api.ServerStats{}, fmt.Errorf("stats of %s: %w", raftAddr, err)
	}
	return st, nil
}

// Status fetches GET /v1/status from the server at raftAddr.
func (p *peerClient) Status(ctx context.Context, raftAddr string) (api.Status, error) {
	c, err := p.api(raftAddr)
	if err != nil {
		return api.Status{}, err
	}
	return c.Status(ctx)
}

// RemovePeer asks the server at raftAddr (the leader, or one that forwards
// to it) to remove id from Raft.
func (p *peerClient) RemovePeer(ctx context.Context, raftAddr, id string) error {
	c, err := p.api(raftAddr)
	if err != nil {
		return err
	}
	if err := c.RaftRemovePeer(ctx, id); err != nil {
		return fmt.Errorf("removing %s through %s: %w", id, raftAddr, err)
	}
	return nil
}

// api is a client of the agent API served on raftAddr's port, over the
// shared transport. It is cheap: a URL and the shared http.Client.
func (p *peerClient) api(raftAddr string) (*api.Client, error) {
	if raftAddr == "" {
		return nil, errors.New("no address known")
	}
	return api.NewClient(api.Config{Address: p.scheme + "://" + raftAddr, Token: p.token, HTTPClient: p.client})
}
