package main

import (
	"net/http"
	"time"

	"github.com/clusteragent/agent/api"
)

// kvClient is one load worker's API client over one keep-alive
// connection: a worker has one request in flight at a time.
type kvClient struct {
	*api.Client
	hc *http.Client
}

func newKVClient(baseURL string) (*kvClient, error) {
	hc := &http.Client{Transport: &http.Transport{
		MaxIdleConns:        1,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     time.Minute,
	}}
	c, err := api.NewClient(api.Config{Address: baseURL, HTTPClient: hc, Timeout: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	return &kvClient{Client: c, hc: hc}, nil
}

// close drops the client's idle connection.
func (c *kvClient) close() { c.hc.CloseIdleConnections() }
