package dockerrun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
)

// subnetAttempts bounds the search for a free subnet; each attempt that
// collides costs one docker network create.
const subnetAttempts = 24

// subnetPools are the /16s the run's /24 is drawn from: private ranges that
// Docker's default address pools (172.17-31/16, 192.168/16) and most hosts
// leave alone.
var subnetPools = []netip.Prefix{
	netip.MustParsePrefix("10.213.0.0/16"),
	netip.MustParsePrefix("172.30.0.0/16"),
}

// firstNodeHost is the last octet of n1's address; n<k> gets
// firstNodeHost+k-1. The low addresses stay free for the gateway.
const firstNodeHost = 11

// createNetwork creates the bridge network name with a random /24 from
// subnetPools that overlaps neither the host's addresses nor another Docker
// network (Docker refuses those: "Pool overlaps"), and returns the subnet.
func createNetwork(ctx context.Context, name, label string, logf func(string, ...any)) (netip.Prefix, error) {
	hostNets := hostPrefixes()
	var lastErr error
	for range subnetAttempts {
		subnet, err := randomSubnet()
		if err != nil {
			return netip.Prefix{}, err
		}
		if overlapsAny(subnet, hostNets) {
			continue
		}
		gateway := subnet.Addr().Next()
		_, err = docker(ctx, dockerTimeout, "network", "create", "--driver", "bridge",
			"--subnet", subnet.String(), "--gateway", gateway.String(), "--label", label, name)
		if err == nil {
			logf("dockerrun: network %s on %s", name, subnet)
			return subnet, nil
		}
		if !saidAny(err, "overlaps") {
			return netip.Prefix{}, fmt.Errorf("creating network %s: %w", name, err)
		}
		lastErr = err
	}
	return netip.Prefix{}, fmt.Errorf("creating network %s: no free /24 in %v after %d attempts (last: %v)",
		name, subnetPools, subnetAttempts, lastErr)
}

// randomSubnet picks a /24 inside one of subnetPools.
func randomSubnet() (netip.Prefix, error) {
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return netip.Prefix{}, fmt.Errorf("random subnet: %w", err)
	}
	pool := subnetPools[int(b[0])%len(subnetPools)]
	a := pool.Addr().As4()
	a[2] = b[1]
	return netip.PrefixFrom(netip.AddrFrom4(a), 24), nil
}

// nodeIP is the address of the k-th node (k from 1) in subnet.
func nodeIP(subnet netip.Prefix, k int) (netip.Addr, error) {
	host := firstNodeHost + k - 1
	if k < 1 || host > 254 {
		return netip.Addr{}, fmt.Errorf("node %d does not fit in %s", k, subnet)
	}
	a := subnet.Addr().As4()
	a[3] = byte(host)
	return netip.AddrFrom4(a), nil
}

// hostPrefixes lists the IPv4 networks of the host's interfaces; a subnet
// on one of them would shadow the host's own route.
func hostPrefixes() []netip.Prefix {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		// Docker still refuses overlaps with its own networks.
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if p, err := netip.ParsePrefix(ipn.String()); err == nil && p.Addr().Is4() {
			out = append(out, p.Masked())
		}
	}
	return out
}

func overlapsAny(p netip.Prefix, others []netip.Prefix) bool {
	for _, o := range others {
		if p.Overlaps(o) {
			return true
		}
	}
	return false
}

// randomID names one run's image, network and containers.
func randomID() (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
