// Package freeport picks loopback ports that are free for both TCP and UDP,
// for tests, the chaos runners and the benchmarks, which must know a node's
// addresses before it starts (seeds given to simultaneous starts, fixed
// ports across a restart). Everything else binds port 0.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// Ports returns n distinct ports on 127.0.0.1, none in taken (which may be
// nil), that are free for both TCP and UDP (memberlist needs both).
//
// Ports are drawn at random from outside the kernel's ephemeral range: the
// agents' own outgoing connections, and port-0 listeners of anything else
// running, take ephemeral ports, and one of them could grab a port from that
// range between this check and the agent's bind. A node keeps its ports for
// the life of the cluster, so a restart binds them again.
func Ports(n int, taken map[int]bool) ([]int, error) {
	lo, hi := candidateRange()
	if hi-lo < 2*n {
		return nil, fmt.Errorf("freeport: no room outside the ephemeral ports for %d ports ([%d, %d))", n, lo, hi)
	}
	seen := map[int]bool{}
	var ports []int
	for attempts := 0; len(ports) < n; attempts++ {
		if attempts > 1000 {
			return nil, fmt.Errorf("freeport: found only %d of %d free ports in [%d, %d)", len(ports), n, lo, hi)
		}
		port := lo + rand.IntN(hi-lo)
		if seen[port] || taken[port] || !portFree(port) {
			continue
		}
		seen[port] = true
		ports = append(ports, port)
	}
	return ports, nil
}

// HostPort is port on 127.0.0.1 as host:port.
func HostPort(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

func portFree(port int) bool {
	addr := HostPort(port)
	tl, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer tl.Close()
	ul, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	ul.Close()
	return true
}

// candidateRange is a port range below the ephemeral range, or above it
// when too little room is left below.
func candidateRange() (lo, hi int) {
	ephLo, ephHi := 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			l, err1 := strconv.Atoi(f[0])
			h, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil {
				ephLo, ephHi = l, h
			}
		}
	}
	if ephLo-10000 >= 2000 {
		return 10000, ephLo
	}
	return ephHi + 1, 65535
}
