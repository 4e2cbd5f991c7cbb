package agentcluster

import (
	"context"
	"net/http"
	"time"

	"github.com/clusteragent/agent/api"
)

// Server is one entry of a node's Raft configuration.
type Server = api.RaftServer

// Member is one entry of a node's gossip member list.
type Member = api.Member

// Status is a node's GET /v1/status.
type Status = api.Status

// stateClient carries every node's state reads; short timeouts so a poll
// loop notices a dead node quickly.
var stateClient = &http.Client{Timeout: 2 * time.Second}

// stateAPI is the client of node's API that reads cluster state.
func stateAPI(url string) (*api.Client, error) {
	return api.NewClient(api.Config{Address: url, HTTPClient: stateClient})
}

// Configuration is the Raft configuration as node sees it.
func Configuration(ctx context.Context, node *Node) ([]Server, error) {
	conf, err := node.api.RaftConfiguration(ctx)
	if err != nil {
		return nil, err
	}
	return conf.Servers, nil
}

// Members is the gossip member list as node sees it.
func Members(ctx context.Context, node *Node) ([]Member, error) {
	return node.api.Members(ctx)
}

// NodeStatus is node's Raft status as it reports it.
func NodeStatus(ctx context.Context, node *Node) (Status, error) {
	return node.api.Status(ctx)
}
