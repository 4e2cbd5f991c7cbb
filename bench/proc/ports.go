package proc

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// FreePorts returns n distinct ports on 127.0.0.1, none in taken, free for
// both TCP and UDP (gossip needs both).
//
// The ports are drawn at random from outside the kernel's ephemeral range:
// the processes' own outgoing connections take ephemeral ports, and one of
// them could grab a port from that range between this check and the bind.
func FreePorts(n int, taken map[int]bool) ([]int, error) {
	lo, hi := candidateRange()
	if hi-lo < 2*n {
		return nil, fmt.Errorf("proc: no room outside the ephemeral ports for %d ports ([%d, %d))", n, lo, hi)
	}
	seen := map[int]bool{}
	var ports []int
	for attempts := 0; len(ports) < n; attempts++ {
		if attempts > 1000 {
			return nil, fmt.Errorf("proc: found only %d of %d free ports in [%d, %d)", len(ports), n, lo, hi)
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
