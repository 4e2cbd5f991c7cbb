package dockerrun

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// advertiseTemplate is what an agent advertises when Options.SeedName is
// set: the address of its default-route interface, read when it starts, as
// a Kubernetes pod advertises the pod IP it is given. A container moved to
// a new address therefore advertises the new one without a new config.
const advertiseTemplate = `{{ GetDefaultInterfaces | include "type" "IPv4" | attr "address" }}`

// stopSeconds is docker stop's grace before SIGKILL: the agent's own
// graceful shutdown (a leader's hand-off) is bounded well inside it, as a
// pod's terminationGracePeriodSeconds is.
const stopSeconds = 30

// Stop sends SIGTERM to node's agent (docker stop) and waits for it to
// exit: a graceful shutdown, as Kubernetes stops a pod. Stopping a node
// that is already stopped is not an error.
func (c *Cluster) Stop(ctx context.Context, node string) error {
	n, err := c.node(node)
	if err != nil {
		return err
	}
	if _, err := docker(ctx, removeTimeout, "stop", "--time", strconv.Itoa(stopSeconds), n.container); err != nil {
		return fmt.Errorf("dockerrun: stopping %s: %w", node, err)
	}
	c.stopped[node] = true
	delete(c.paused, node)
	return nil
}

// Move gives each of the stopped nodes a new address on the run's network,
// never one used before in the run, with its data volume kept: a
// StatefulSet's pods rescheduled, or a fleet re-addressed. The nodes stay
// stopped; Restart starts them. It needs Options.SeedName, since the other
// agents' config files name no addresses then.
func (c *Cluster) Move(ctx context.Context, nodes ...string) error {
	if c.opts.SeedName == "" {
		return errors.New("dockerrun: Move needs Options.SeedName: the agents' configs hold fixed addresses otherwise")
	}
	for _, id := range nodes {
		if !c.stopped[id] {
			return fmt.Errorf("dockerrun: moving %s: stop it first", id)
		}
	}
	for _, id := range nodes {
		if err := c.move(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) move(ctx context.Context, id string) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	ip, err := c.nextIP()
	if err != nil {
		return fmt.Errorf("dockerrun: moving %s: %w", id, err)
	}
	if _, err := docker(ctx, dockerTimeout, "network", "disconnect", c.prefix, n.container); err != nil &&
		!saidAny(err, "is not connected") {
		return fmt.Errorf("dockerrun: moving %s: %w", id, err)
	}
	if _, err := docker(ctx, dockerTimeout, "network", "connect", "--ip", ip.String(),
		"--alias", c.opts.SeedName, c.prefix, n.container); err != nil {
		return fmt.Errorf("dockerrun: moving %s: %w", id, err)
	}
	c.mu.Lock()
	old := n.ip
	n.ip = ip
	c.mu.Unlock()
	delete(c.disconnected, id)
	c.opts.Logf("dockerrun: %s moved from %s to %s", id, old, ip)
	return nil
}

// Addr is node's current address on the run's network.
func (c *Cluster) Addr(node string) (netip.Addr, error) {
	n, err := c.node(node)
	if err != nil {
		return netip.Addr{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.ip, nil
}

// firstMovedSlot is the node slot (see nodeIP) of the first address Move
// hands out: far past the slots of the nodes Start and AddNode make.
const firstMovedSlot = 101

// nextIP is the next address no node of the run has had.
func (c *Cluster) nextIP() (netip.Addr, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ip, err := nodeIP(c.subnet, firstMovedSlot+c.moves)
	c.moves++
	return ip, err
}
