package discovery

import (
	"fmt"
	"net"
	"strings"

	"github.com/hashicorp/memberlist"
)

// bindRetries is how often a free-port bind is retried: the TCP and UDP
// listeners are bound one after the other on the port the kernel picked
// for TCP, and another process may take that UDP port in between.
const bindRetries = 10

// wrapTransport creates the NetTransport memberlist would have created from
// mc's bind settings, applies Config.WrapTransport to it when set, wraps
// the result in a stoppableTransport and sets mc.Transport. memberlist only
// learns a port picked by the kernel from a transport it created itself,
// so the picked port is also written into mc.
func (g *Gossip) wrapTransport(mc *memberlist.Config) error {
	nt, err := newNetTransport(mc)
	if err != nil {
		return fmt.Errorf("discovery: start gossip transport on %s: %w",
			net.JoinHostPort(mc.BindAddr, fmt.Sprint(mc.BindPort)), err)
	}
	if mc.BindPort == 0 {
		port := nt.GetAutoBindPort()
		mc.BindPort = port
		if g.cfg.AdvertisePort == 0 {
			mc.AdvertisePort = port
		}
	}
	var inner memberlist.NodeAwareTransport = nt
	if g.cfg.WrapTransport != nil {
		if inner = g.cfg.WrapTransport(nt); inner == nil {
			_ = nt.Shutdown()
			return fieldErr("WrapTransport", "returned a nil transport")
		}
	}
	mc.Transport = newStoppableTransport(g.ctx, inner)
	return nil
}

// newNetTransport binds memberlist's own TCP and UDP transport the way
// memberlist.Create would without a custom transport.
func newNetTransport(mc *memberlist.Config) (*memberlist.NetTransport, error) {
	nc := &memberlist.NetTransportConfig{
		BindAddrs:    []string{mc.BindAddr},
		BindPort:     mc.BindPort,
		Logger:       mc.Logger,
		MetricLabels: mc.MetricLabels,
	}
	tries := 1
	if mc.BindPort == 0 {
		tries = bindRetries
	}
	var err error
	for range tries {
		var nt *memberlist.NetTransport
		if nt, err = memberlist.NewNetTransport(nc); err == nil {
			return nt, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, err
}
