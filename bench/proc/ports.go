package proc

import "github.com/clusteragent/agent/internal/freeport"

// FreePorts returns n distinct ports on 127.0.0.1, none in taken, free for
// both TCP and UDP and outside the kernel's ephemeral range (see
// freeport.Ports).
func FreePorts(n int, taken map[int]bool) ([]int, error) { return freeport.Ports(n, taken) }

// HostPort is port on 127.0.0.1 as host:port.
func HostPort(port int) string { return freeport.HostPort(port) }
