package agentcluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/clusteragent/agent/api"
	"github.com/clusteragent/agent/bench/load"
)

// KVClient talks to one node's KV API over one keep-alive connection, as a
// single client of an application would.
type KVClient struct {
	api *api.Client
	hc  *http.Client
}

// NewKVClient is a client of the node at baseURL. Its transport keeps one
// idle connection, enough for a client that has one request in flight.
func NewKVClient(baseURL string) (*KVClient, error) {
	hc := &http.Client{Transport: &http.Transport{
		MaxIdleConns:        1,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     time.Minute,
	}}
	c, err := api.NewClient(api.Config{Address: baseURL, HTTPClient: hc, Timeout: 30 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("agentcluster: %w", err)
	}
	return &KVClient{api: c, hc: hc}, nil
}

// Close drops the client's idle connection.
func (c *KVClient) Close() { c.hc.CloseIdleConnections() }

// Put writes value at key and returns once the write has committed.
func (c *KVClient) Put(ctx context.Context, key string, value []byte) error {
	_, err := c.api.KVPut(ctx, key, value, nil)
	return refused("PUT", key, err)
}

// Get reads key linearizably (the API's default).
func (c *KVClient) Get(ctx context.Context, key string) error {
	_, _, err := c.api.KVGet(ctx, key, nil)
	return refused("GET", key, err)
}

// refused wraps load.ErrStatus around an answer the server gave that is
// not a success (an error status, a write not applied), as load asks of
// an operation whose server answered but refused; a failure to reach the
// node stays as it is.
func refused(method, key string, err error) error {
	var se *api.StatusError
	if errors.As(err, &se) || errors.Is(err, api.ErrCASFailed) {
		return fmt.Errorf("%s %s: %w: %w", method, key, err, load.ErrStatus)
	}
	return err
}
