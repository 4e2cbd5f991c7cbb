package testutil

import (
	"testing"

	"github.com/clusteragent/agent/internal/freeport"
)

// FreePorts returns n ports on 127.0.0.1 that are free for both TCP and UDP
// (memberlist needs both), drawn from outside the kernel's ephemeral range
// (see freeport.Ports). Tests that must know addresses before starting
// nodes (simultaneous starts with seeds, fixed ports across a restart) use
// it; everything else binds port 0.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports, err := freeport.Ports(n, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}
