package agentcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/clusteragent/agent/bench/load"
)

// KVClient talks to one node's KV API over one keep-alive connection, as a
// single client of an application would.
type KVClient struct {
	base string
	hc   *http.Client
}

// NewKVClient is a client of the node at baseURL. Its transport keeps one
// idle connection, enough for a client that has one request in flight.
func NewKVClient(baseURL string) *KVClient {
	tr := &http.Transport{
		MaxIdleConns:        1,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     time.Minute,
	}
	return &KVClient{base: baseURL, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Close drops the client's idle connection.
func (c *KVClient) Close() { c.hc.CloseIdleConnections() }

// Put writes value at key and returns once the write has committed.
func (c *KVClient) Put(ctx context.Context, key string, value []byte) error {
	var ans struct {
		OK bool `json:"ok"`
	}
	if err := c.do(ctx, http.MethodPut, key, bytes.NewReader(value), &ans); err != nil {
		return err
	}
	if !ans.OK {
		return fmt.Errorf("PUT %s: ok false: %w", key, load.ErrStatus)
	}
	return nil
}

// Get reads key linearizably (the API's default).
func (c *KVClient) Get(ctx context.Context, key string) error {
	var ans struct {
		Key string `json:"key"`
	}
	return c.do(ctx, http.MethodGet, key, nil, &ans)
}

// do sends one request and decodes its 200 answer into v. The body is read
// to the end so the connection is reused.
func (c *KVClient) do(ctx context.Context, method, key string, body io.Reader, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/v1/kv/"+url.PathEscape(key), body)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s: %w", method, key, resp.Status, bytes.TrimSpace(b), load.ErrStatus)
	}
	return json.Unmarshal(b, v)
}
