package agent_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/api"
)

// nodeAPI is a client of n's HTTP API over the default transport, every
// call bounded by timeout.
func nodeAPI(t testing.TB, n *agenttest.Node, timeout time.Duration) *api.Client {
	t.Helper()
	c, err := api.NewClient(api.Config{Address: n.Agent.HTTPAddr(), HTTPClient: http.DefaultClient, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
