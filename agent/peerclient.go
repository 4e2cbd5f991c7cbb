package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/clusteragent/agent/agent/autopilot"
	"github.com/clusteragent/agent/agent/httpapi"
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
func (p *peerClient) Stats(ctx context.Context, raftAddr string) (httpapi.ServerStats, error) {
	var st httpapi.ServerStats
	err := p.do(ctx, http.MethodGet, raftAddr, "/v1/internal/stats", &st)
	return st, err
}

// RemovePeer asks the server at raftAddr (the leader, or one that forwards
// to it) to remove id from Raft.
func (p *peerClient) RemovePeer(ctx context.Context, raftAddr, id string) error {
	return p.do(ctx, http.MethodDelete, raftAddr, "/v1/raft/peers/"+url.PathEscape(id), nil)
}

func (p *peerClient) do(ctx context.Context, method, raftAddr, path string, out any) error {
	if raftAddr == "" {
		return fmt.Errorf("no address known")
	}
	req, err := http.NewRequestWithContext(ctx, method, p.scheme+"://"+raftAddr+path, nil)
	if err != nil {
		return err
	}
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e httpapi.ErrorBody
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: %s (%d)", method, path, e.Error, resp.StatusCode)
		}
		return fmt.Errorf("%s %s: status %d", method, path, resp.StatusCode)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}
