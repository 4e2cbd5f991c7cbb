package main

import (
	"context"
	"net/http"
	"time"

	"github.com/clusteragent/agent/api"
	"github.com/clusteragent/agent/bench/load"
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

// kvPool hands each load worker a kvClient of the node at base, and
// closes them all between levels.
type kvPool struct {
	base    string
	clients []*kvClient
}

func (p *kvPool) client() (*kvClient, error) {
	kc, err := newKVClient(p.base)
	if err != nil {
		return nil, err
	}
	p.clients = append(p.clients, kc)
	return kc, nil
}

func (p *kvPool) closeAll() {
	for _, kc := range p.clients {
		kc.close()
	}
	p.clients = nil
}

// putOp is the put level's operation: each worker writes its own keys.
func (p *kvPool) putOp(value []byte) func(worker int) (load.Op, error) {
	return func(worker int) (load.Op, error) {
		kc, err := p.client()
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, seq int) error {
			_, err := kc.KVPut(ctx, load.PutKey(worker, seq), value, nil)
			return err
		}, nil
	}
}

// getOp is the get level's operation: linearizable reads of the preloaded keys.
func (p *kvPool) getOp(worker int) (load.Op, error) {
	kc, err := p.client()
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, seq int) error {
		_, _, err := kc.KVGet(ctx, load.GetKey(worker, seq), nil)
		return err
	}, nil
}
