package agent_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/internal/testutil"
)

// TestOperatorErrorsOnOneNodeCluster: an operator's impossible request is
// answered 4xx with a sentence, not 500 with raft's words.
func TestOperatorErrorsOnOneNodeCluster(t *testing.T) {
	cfg := agenttest.Config(t, "solo")
	cfg.BootstrapPreferred = true
	n := agenttest.Start(t, cfg)
	agenttest.WaitForConfig(t, formTimeout, []*agenttest.Node{n}, []string{"solo"}, nil)
	base := "http://" + n.Agent.HTTPAddr()
	cases := []struct {
		method, path string
		code         int
		msg          string
	}{
		{"POST", "/v1/raft/transfer-leadership?id=node9", http.StatusNotFound, `"node9" is not in the raft configuration`},
		{"POST", "/v1/raft/transfer-leadership", http.StatusConflict, "there is no other voter to hand leadership to"},
		{"POST", "/v1/raft/transfer-leadership?id=solo", http.StatusConflict, "solo is already the leader"},
		{"DELETE", "/v1/raft/peers/solo", http.StatusConflict, "solo is the only voter"},
		{"DELETE", "/v1/raft/peers/node9", http.StatusNotFound, `"node9" is not in the raft configuration`},
	}
	for _, tc := range cases {
		var last httpResult
		// The agent answers operator calls once its leader duties run.
		testutil.WaitFor(t, formTimeout, func() error {
			last = httpDo(t, tc.method, base+tc.path, "")
			if last.code == http.StatusServiceUnavailable {
				return errNotYet(last)
			}
			return nil
		})
		var body struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(last.body, &body)
		if last.code != tc.code || !strings.Contains(body.Error, tc.msg) || strings.Contains(body.Error, "raftnode") {
			t.Errorf("%s %s = %d %s, want %d with %q", tc.method, tc.path, last.code, last.body, tc.code, tc.msg)
		}
	}
}

type errNotYet httpResult

func (e errNotYet) Error() string { return "503: " + string(e.body) }
