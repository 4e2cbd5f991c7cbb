//go:build !chaos_bite_earlyack

package agent

import (
	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/raftnode"
)

// biteEarlyAck never acknowledges anything: writes wait for their commit.
// Only binaries built with the chaos_bite_earlyack tag, for the
// fault-injection suite and never for production, replace it with a
// version that acknowledges KV writes before they commit (see
// bite_earlyack_on.go).
func (a *Agent) biteEarlyAck(raftnode.Mutation, []byte) (httpapi.KVWrite, bool) {
	return httpapi.KVWrite{}, false
}
