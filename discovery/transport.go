package discovery

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/hashicorp/memberlist"
)

// bindRetries is how often a free-port bind is retried: the TCP and UDP
// listeners are bound one after the other on the port the kernel picked
// for TCP, and another process may take that UDP port in between.
const bindRetries = 10

// wrapTransport creates the transport (netTransport) from mc's bind
// settings, applies Config.WrapTransport to it when set, wraps the result
// in a stoppableTransport and sets mc.Transport. memberlist only learns a
// port picked by the kernel from a transport it created itself, so the
// picked port is also written into mc.
func (g *Gossip) wrapTransport(mc *memberlist.Config) error {
	nt, err := g.bindTransport(mc)
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

// bindTransport binds the TCP and UDP listeners, retrying a free-port
// bind whose UDP half lost the port to another process.
func (g *Gossip) bindTransport(mc *memberlist.Config) (*netTransport, error) {
	tries := 1
	if mc.BindPort == 0 {
		tries = bindRetries
	}
	var err error
	for range tries {
		var nt *netTransport
		if nt, err = newTransport(mc.BindAddr, mc.BindPort, mc.Logger, g.clock, mc.MetricLabels); err == nil {
			return nt, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, err
}
