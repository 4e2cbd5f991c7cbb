package main

import (
	"net/http"
	"sync"
	"testing"
	"time"

	agentapi "github.com/clusteragent/agent/api"
)

// kvClient carries the process tests' calls to the agents: every request
// is bounded, so a stopped or paused agent fails a call instead of hanging it.
var kvClient = &http.Client{Timeout: 3 * time.Second}

// agentAPIs holds one client per agent address (HOST:PORT), all over kvClient.
var agentAPIs sync.Map

// agentAPI is the client of the agent API at addr (HOST:PORT).
func agentAPI(addr string) (*agentapi.Client, error) {
	if c, ok := agentAPIs.Load(addr); ok {
		return c.(*agentapi.Client), nil
	}
	c, err := agentapi.NewClient(agentapi.Config{Address: addr, HTTPClient: kvClient})
	if err != nil {
		return nil, err
	}
	got, _ := agentAPIs.LoadOrStore(addr, c)
	return got.(*agentapi.Client), nil
}

// agentAPIWithin is a client of the agent API at addr whose every call is
// bounded by timeout, for the tests that wait longer than kvClient would.
func agentAPIWithin(addr string, timeout time.Duration) (*agentapi.Client, error) {
	return agentapi.NewClient(agentapi.Config{Address: addr, HTTPClient: http.DefaultClient, Timeout: timeout})
}

// mustAgentAPI is agentAPI for a test that cannot go on without it.
func mustAgentAPI(t *testing.T, addr string) *agentapi.Client {
	t.Helper()
	c, err := agentAPI(addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
