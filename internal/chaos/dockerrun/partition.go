package dockerrun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"
)

// reachTimeout bounds Heal's wait for a reconnected node to answer on its
// address again.
const reachTimeout = 15 * time.Second

// Partition takes off the network every node of every group but the
// largest (the first of equal largest ones), which stays connected with the
// nodes in no group. A node off the network reaches no one, so a group of
// several nodes outside the largest is split further, into single nodes: a
// stronger fault than asked, with the same majority side. The isolation
// faults (one node against the rest) are exact. A node taken off the
// network by an earlier Partition and connected in this one is reconnected.
func (c *Cluster) Partition(ctx context.Context, groups [][]string) error {
	target, err := isolated(groups, func(id string) bool { _, err := c.node(id); return err == nil })
	if err != nil {
		return err
	}
	for _, id := range c.disconnectedNodes() {
		if !target[id] {
			if err := c.connect(ctx, id); err != nil {
				return err
			}
		}
	}
	for _, id := range c.Nodes() {
		if target[id] && !c.disconnected[id] {
			if err := c.disconnect(ctx, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// Heal reconnects every node Partition took off the network, at its own
// address, and waits until each running one answers there again.
func (c *Cluster) Heal(ctx context.Context) error {
	var errs []error
	healed := c.disconnectedNodes()
	for _, id := range healed {
		errs = append(errs, c.connect(ctx, id))
	}
	for _, id := range healed {
		if !c.stopped[id] {
			errs = append(errs, c.waitReachable(ctx, id))
		}
	}
	return errors.Join(errs...)
}

// isolated returns the nodes Partition takes off the network for groups.
func isolated(groups [][]string, known func(string) bool) (map[string]bool, error) {
	seen := map[string]bool{}
	largest := -1
	for i, g := range groups {
		for _, id := range g {
			if !known(id) {
				return nil, fmt.Errorf("dockerrun: partition: unknown node %q", id)
			}
			if seen[id] {
				return nil, fmt.Errorf("dockerrun: partition: node %q is in two groups", id)
			}
			seen[id] = true
		}
		if largest < 0 || len(g) > len(groups[largest]) {
			largest = i
		}
	}
	out := map[string]bool{}
	for i, g := range groups {
		if i == largest {
			continue
		}
		for _, id := range g {
			out[id] = true
		}
	}
	return out, nil
}

func (c *Cluster) disconnect(ctx context.Context, id string) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	if _, err := docker(ctx, dockerTimeout, "network", "disconnect", c.prefix, n.container); err != nil &&
		!saidAny(err, "is not connected") {
		return fmt.Errorf("dockerrun: partitioning %s off: %w", id, err)
	}
	c.disconnected[id] = true
	return nil
}

// connect puts id back on the network at the address it had.
func (c *Cluster) connect(ctx context.Context, id string) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	if _, err := docker(ctx, dockerTimeout, "network", "connect", "--ip", n.ip.String(), c.prefix, n.container); err != nil &&
		!saidAny(err, "already exists in network", "already attached") {
		return fmt.Errorf("dockerrun: reconnecting %s: %w", id, err)
	}
	delete(c.disconnected, id)
	return nil
}

// waitReachable waits until a TCP connection to id's HTTP port gets an
// answer, an accept or a refusal (an agent still starting): either proves
// the address is routed to the container again.
func (c *Cluster) waitReachable(ctx context.Context, id string) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	addr := net.JoinHostPort(n.ip.String(), strconv.Itoa(httpPort))
	var d net.Dialer
	return poll(ctx, 50*time.Millisecond, func() error {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		conn, err := d.DialContext(dctx, "tcp", addr)
		if err == nil {
			return conn.Close()
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil
		}
		return fmt.Errorf("dockerrun: %s not reachable at %s after reconnecting: %w", id, addr, err)
	})
}

// disconnectedNodes lists the nodes off the network in the order they were added.
func (c *Cluster) disconnectedNodes() []string {
	var ids []string
	for _, id := range c.Nodes() {
		if c.disconnected[id] {
			ids = append(ids, id)
		}
	}
	return ids
}
