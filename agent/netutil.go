package agent

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	sockaddr "github.com/hashicorp/go-sockaddr"
)

// netEnv is what address templates and the default advertise address read
// of the host. Tests replace defaultIface to pretend a routing table.
type netEnv struct {
	// interfaces lists every address of every interface.
	interfaces func() (sockaddr.IfAddrs, error)
	// defaultIface names the interface holding the IPv4 default route.
	defaultIface func() (string, error)
}

// systemNetEnv reads the host's interfaces and its routing table from
// /proc/net/route. go-sockaddr would run the `ip route` binary instead,
// which a FROM-scratch image does not have; where it is missing
// go-sockaddr's default-route sort silently does nothing and
// GetDefaultInterfaces fails, so the route is read here, without exec.
func systemNetEnv() netEnv {
	return netEnv{interfaces: sockaddr.GetAllInterfaces, defaultIface: procDefaultInterface}
}

// procRoute is the kernel's IPv4 routing table, the one `ip route` prints.
const procRoute = "/proc/net/route"

func procDefaultInterface() (string, error) {
	f, err := os.Open(procRoute)
	if err != nil {
		return "", fmt.Errorf("reading the default route: %w", err)
	}
	defer f.Close()
	return parseDefaultRoute(f)
}

// parseDefaultRoute returns the interface of the IPv4 default route in the
// /proc/net/route format: the up route with destination and mask 0 and the
// lowest metric (the one the kernel uses).
func parseDefaultRoute(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	best, bestMetric := "", int64(-1)
	for line := 0; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if line == 0 || len(f) < 8 {
			continue // the header, or a line this parser does not know
		}
		flags, err1 := strconv.ParseUint(f[3], 16, 32)
		metric, err2 := strconv.ParseInt(f[6], 10, 64)
		if err1 != nil || err2 != nil || flags&0x1 == 0 || f[1] != "00000000" || f[7] != "00000000" {
			continue // unparsable, down (RTF_UP unset) or not a default route
		}
		if bestMetric < 0 || metric < bestMetric {
			best, bestMetric = f[0], metric
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading the default route: %w", err)
	}
	if best == "" {
		return "", errors.New("no IPv4 default route")
	}
	return best, nil
}

// advertiseCandidate is one private IPv4 address of an interface.
type advertiseCandidate struct {
	ip, iface string
}

// chooseAdvertise picks the address to advertise when bind is 0.0.0.0 and
// advertise is unset. The only private IPv4 address wins; with several, the
// only one on the default-route interface (what Consul's and Nomad's
// GetPrivateIP prefer; on a host with Docker that is eth0, not docker0).
// Anything else is ambiguous and an error naming every candidate, because a
// guess would advertise an address the other nodes may not reach.
func chooseAdvertise(cands []advertiseCandidate, defaultIface string) (string, error) {
	switch len(cands) {
	case 0:
		return "", errors.New("no private IPv4 address on any interface that is up; set advertise")
	case 1:
		return cands[0].ip, nil
	}
	var onDefault []string
	names := make([]string, len(cands))
	for i, c := range cands {
		names[i] = c.ip + " (" + c.iface + ")"
		if c.iface == defaultIface {
			onDefault = append(onDefault, c.ip)
		}
	}
	if len(onDefault) == 1 {
		return onDefault[0], nil
	}
	where := "none is alone on the default-route interface " + defaultIface
	if defaultIface == "" {
		where = "and no default route tells them apart"
	}
	return "", fmt.Errorf("more than one private IPv4 address: %s; %s. Set advertise to one of them, "+
		"or to a template such as '{{ GetPrivateInterfaces | include \"network\" \"10.0.0.0/8\" | attr \"address\" }}'",
		strings.Join(names, " "), where)
}

// defaultAdvertise finds the candidates of chooseAdvertise on this host:
// private (RFC 6890) IPv4 addresses of interfaces that are up, loopback and
// link-local excluded.
func defaultAdvertise(env netEnv) (string, error) {
	ifs, err := env.interfaces()
	if err != nil {
		return "", fmt.Errorf("listing interfaces: %w", err)
	}
	ifs, _ = sockaddr.FilterIfByType(ifs, sockaddr.TypeIPv4)
	for _, flag := range []string{"up", "forwardable"} {
		if ifs, _, err = sockaddr.IfByFlag(flag, ifs); err != nil {
			return "", err
		}
	}
	if ifs, _, err = sockaddr.IfByRFC("6890", ifs); err != nil {
		return "", err
	}
	cands := make([]advertiseCandidate, 0, len(ifs))
	for _, ifa := range ifs {
		cands = append(cands, advertiseCandidate{ip: (*sockaddr.ToIPAddr(ifa.SockAddr)).NetIP().String(), iface: ifa.Name})
	}
	def, _ := env.defaultIface() // no default route: only a lone candidate is chosen
	return chooseAdvertise(cands, def)
}

// ascDefault sorts the addresses of the default-route interface first, like
// go-sockaddr's AscIfDefault but with the route read once, through env. With
// no default route it leaves the order to the next criterion, as
// go-sockaddr does.
func (env netEnv) ascDefault() sockaddr.CmpIfAddrFunc {
	def, _ := env.defaultIface()
	return func(p1, p2 *sockaddr.IfAddr) int {
		switch d1, d2 := def != "" && p1.Name == def, def != "" && p2.Name == def; {
		case d1 && !d2:
			return -1
		case d2 && !d1:
			return 1
		}
		return 0
	}
}

// sortFuncs returns go-sockaddr's sort selectors other than "default" (a
// function, not a package variable, so nothing can change them).
func sortFuncs() map[string]sockaddr.CmpIfAddrFunc {
	return map[string]sockaddr.CmpIfAddrFunc{
		"address": sockaddr.AscIfAddress, "-address": sockaddr.DescIfAddress,
		"name": sockaddr.AscIfName, "-name": sockaddr.DescIfName,
		"port": sockaddr.AscIfPort, "-port": sockaddr.DescIfPort,
		"private": sockaddr.AscIfPrivate, "-private": sockaddr.DescIfPrivate,
		"size": sockaddr.AscIfNetworkSize, "-size": sockaddr.DescIfNetworkSize,
		"type": sockaddr.AscIfType, "-type": sockaddr.DescIfType,
	}
}

// sortIfBy is the template's "sort": go-sockaddr's SortIfBy, with the
// "default" selector answered through env.
func (env netEnv) sortIfBy(selectors string, in sockaddr.IfAddrs) (sockaddr.IfAddrs, error) {
	if !strings.Contains(strings.ToLower(selectors), "default") {
		return sockaddr.SortIfBy(selectors, in)
	}
	var cmps []sockaddr.CmpIfAddrFunc
	funcs := sortFuncs()
	for _, clause := range strings.Split(selectors, ",") {
		c := strings.TrimPrefix(strings.TrimSpace(strings.ToLower(clause)), "+")
		switch f, ok := funcs[c]; {
		case c == "default":
			cmps = append(cmps, env.ascDefault())
		case c == "-default":
			asc := env.ascDefault()
			cmps = append(cmps, func(p1, p2 *sockaddr.IfAddr) int { return -asc(p1, p2) })
		case ok:
			cmps = append(cmps, f)
		default:
			return nil, fmt.Errorf("unknown sort type: %q", clause)
		}
	}
	out := append(sockaddr.IfAddrs(nil), in...)
	sockaddr.OrderedIfAddrBy(cmps...).Sort(out)
	return out, nil
}
