package agentcluster

import (
	"context"
	"net/http"
	"time"

	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/internal/httpjson"
)

// Server is one entry of a node's Raft configuration.
type Server struct {
	ID       string `json:"id"`
	Suffrage string `json:"suffrage"`
	Leader   bool   `json:"leader"`
}

// Member is one entry of a node's gossip member list.
type Member struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// stateClient reads cluster state; short timeouts so a poll loop notices a
// dead node quickly.
var stateClient = &http.Client{Timeout: 2 * time.Second}

// Configuration is the Raft configuration as node sees it.
func Configuration(ctx context.Context, node *Node) ([]Server, error) {
	var cfg struct {
		Servers []Server `json:"servers"`
	}
	if err := httpjson.Get(ctx, stateClient, node.URL+"/v1/raft/configuration", &cfg); err != nil {
		return nil, err
	}
	return cfg.Servers, nil
}

// Members is the gossip member list as node sees it.
func Members(ctx context.Context, node *Node) ([]Member, error) {
	var ms []Member
	if err := httpjson.Get(ctx, stateClient, node.URL+"/v1/members", &ms); err != nil {
		return nil, err
	}
	return ms, nil
}

// Status is a node's GET /v1/status, in the API's own type.
type Status = httpapi.Status

// NodeStatus is node's Raft status as it reports it.
func NodeStatus(ctx context.Context, node *Node) (Status, error) {
	var st Status
	err := httpjson.Get(ctx, stateClient, node.URL+"/v1/status", &st)
	return st, err
}
