package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// LeaseGrant grants a lease of ttl (the server takes 1s to 24h) and
// returns its ID and TTL once committed.
func (c *Client) LeaseGrant(ctx context.Context, ttl time.Duration) (LeaseInfo, error) {
	body, _ := json.Marshal(struct {
		TTL string `json:"ttl"`
	}{ttl.String()})
	var info LeaseInfo
	_, err := c.call(ctx, request{method: http.MethodPost, path: "/v1/lease", body: bytes.NewReader(body), size: int64(len(body)), contentType: "application/json"}, &info)
	if err == nil && info.ID == "" {
		return LeaseInfo{}, fmt.Errorf("unexpected answer from %s: a lease without an ID", c.base.Host)
	}
	return info, err
}

// LeaseRenew gives lease id its full TTL again. ErrNotFound once it
// expired or was revoked.
func (c *Client) LeaseRenew(ctx context.Context, id string) (LeaseInfo, error) {
	var info LeaseInfo
	_, err := c.call(ctx, request{method: http.MethodPut, path: leasePath(id) + "/renew"}, &info)
	return info, err
}

// LeaseRevoke revokes lease id and deletes its keys, once committed.
// ErrNotFound when there is no such lease.
func (c *Client) LeaseRevoke(ctx context.Context, id string) (KVWrite, error) {
	var res KVWrite
	_, err := c.call(ctx, request{method: http.MethodDelete, path: leasePath(id)}, &res)
	return res, err
}

// LeaseShow describes lease id as the leader sees it, or ErrNotFound.
func (c *Client) LeaseShow(ctx context.Context, id string) (LeaseDetail, error) {
	var d LeaseDetail
	_, err := c.call(ctx, request{method: http.MethodGet, path: leasePath(id)}, &d)
	return d, err
}

func leasePath(id string) string { return "/v1/lease/" + url.PathEscape(id) }
