package api

import (
	"context"
	"net/http"
	"net/url"
)

// Status reads GET /v1/status: this agent's view of Raft.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	_, err := c.call(ctx, request{method: http.MethodGet, path: "/v1/status"}, &st)
	return st, err
}

// Members reads GET /v1/members: the gossip members as this agent sees them.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var ms []Member
	_, err := c.call(ctx, request{method: http.MethodGet, path: "/v1/members"}, &ms)
	return ms, err
}

// RaftConfiguration reads GET /v1/raft/configuration.
func (c *Client) RaftConfiguration(ctx context.Context) (RaftConfiguration, error) {
	var conf RaftConfiguration
	_, err := c.call(ctx, request{method: http.MethodGet, path: "/v1/raft/configuration"}, &conf)
	return conf, err
}

// RaftRemovePeer removes server id from the Raft configuration, through
// the leader. ErrNotFound when id is not in it.
func (c *Client) RaftRemovePeer(ctx context.Context, id string) error {
	_, err := c.call(ctx, request{method: http.MethodDelete, path: "/v1/raft/peers/" + url.PathEscape(id)}, nil)
	return err
}

// RaftTransferLeadership hands leadership to the voter id, or to the most
// up-to-date voter when id is "", and returns once leadership moved.
func (c *Client) RaftTransferLeadership(ctx context.Context, id string) error {
	q := url.Values{}
	if id != "" {
		q.Set("id", id)
	}
	_, err := c.call(ctx, request{method: http.MethodPost, path: "/v1/raft/transfer-leadership", query: q}, nil)
	return err
}

// AutopilotHealth reads GET /v1/autopilot/health: the leader's autopilot state.
func (c *Client) AutopilotHealth(ctx context.Context) (AutopilotHealth, error) {
	var h AutopilotHealth
	_, err := c.call(ctx, request{method: http.MethodGet, path: "/v1/autopilot/health"}, &h)
	return h, err
}

// ServerStats reads GET /v1/internal/stats, what a leader's autopilot
// fetches from each server.
func (c *Client) ServerStats(ctx context.Context) (ServerStats, error) {
	var st ServerStats
	_, err := c.call(ctx, request{method: http.MethodGet, path: "/v1/internal/stats"}, &st)
	return st, err
}

// Leave makes the agent leave gracefully: it leaves gossip, is removed
// from Raft, then exits.
func (c *Client) Leave(ctx context.Context) error {
	_, err := c.call(ctx, request{method: http.MethodPost, path: "/v1/agent/leave"}, nil)
	return err
}

// Reload makes the agent re-read its TLS CA, certificate and key, all or
// nothing. ErrBadRequest when the agent runs without TLS.
func (c *Client) Reload(ctx context.Context) error {
	_, err := c.call(ctx, request{method: http.MethodPost, path: "/v1/agent/reload"}, nil)
	return err
}

// Live checks GET /v1/health/live: nil while the agent runs.
func (c *Client) Live(ctx context.Context) error {
	_, err := c.call(ctx, request{method: http.MethodGet, path: "/v1/health/live"}, nil)
	return err
}

// Ready checks GET /v1/health/ready: nil when the agent has a leader and
// has applied up to it (restarting the next server is then safe), else an
// error matching ErrUnavailable with the reason.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.call(ctx, request{method: http.MethodGet, path: "/v1/health/ready"}, nil)
	return err
}
