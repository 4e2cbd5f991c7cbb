package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
)

// Keyring operations.
const (
	KeyringList    = "list"
	KeyringInstall = "install"
	KeyringUse     = "use"
	KeyringRemove  = "remove"
)

// KeyringList lists the gossip encryption keys every live member holds.
func (c *Client) KeyringList(ctx context.Context) (KeyringResponse, error) {
	var resp KeyringResponse
	_, err := c.call(ctx, request{method: http.MethodGet, path: "/v1/agent/keyring"}, &resp)
	return resp, err
}

// KeyringInstall installs key (base64) on every live member.
func (c *Client) KeyringInstall(ctx context.Context, key string) (KeyringResponse, error) {
	return c.keyringChange(ctx, KeyringInstall, key)
}

// KeyringUse makes key, installed everywhere, the one members encrypt with.
// ErrConflict when some member does not hold it.
func (c *Client) KeyringUse(ctx context.Context, key string) (KeyringResponse, error) {
	return c.keyringChange(ctx, KeyringUse, key)
}

// KeyringRemove removes key from every live member. ErrConflict when it is
// a primary key.
func (c *Client) KeyringRemove(ctx context.Context, key string) (KeyringResponse, error) {
	return c.keyringChange(ctx, KeyringRemove, key)
}

func (c *Client) keyringChange(ctx context.Context, op, key string) (KeyringResponse, error) {
	body, _ := json.Marshal(KeyringRequest{Key: key})
	var resp KeyringResponse
	_, err := c.call(ctx, request{method: http.MethodPost, path: "/v1/agent/keyring/" + op, body: bytes.NewReader(body), size: int64(len(body)), contentType: "application/json"}, &resp)
	return resp, err
}
