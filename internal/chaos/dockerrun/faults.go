package dockerrun

import (
	"context"
	"fmt"
	"time"

	"github.com/clusteragent/agent/internal/chaos"
)

// Kill sends SIGKILL to node's agent (docker kill -s KILL): no hand-off, no
// leave. A paused node is killed as it is (the daemon thaws it after the
// signal). Killing a node that is already stopped is not an error.
func (c *Cluster) Kill(ctx context.Context, node string) error {
	n, err := c.node(node)
	if err != nil {
		return err
	}
	_, err = docker(ctx, dockerTimeout, "kill", "--signal", "KILL", n.container)
	if err != nil && !saidAny(err, "is not running") {
		return fmt.Errorf("dockerrun: killing %s: %w", node, err)
	}
	c.stopped[node] = true
	delete(c.paused, node)
	return nil
}

// Restart starts node's container again: the same data volume, the same
// address (unless it is partitioned off, when Heal brings its address
// back), the same config. Restarting a running node is not an error.
func (c *Cluster) Restart(ctx context.Context, node string) error {
	n, err := c.node(node)
	if err != nil {
		return err
	}
	if _, err := docker(ctx, dockerTimeout, "start", n.container); err != nil {
		return fmt.Errorf("dockerrun: restarting %s: %w", node, err)
	}
	delete(c.stopped, node)
	return nil
}

// Pause freezes every process of node's container (docker pause).
func (c *Cluster) Pause(ctx context.Context, node string) error {
	n, err := c.node(node)
	if err != nil {
		return err
	}
	if _, err := docker(ctx, dockerTimeout, "pause", n.container); err != nil {
		return fmt.Errorf("dockerrun: pausing %s: %w", node, err)
	}
	c.paused[node] = true
	return nil
}

// Resume thaws node's container (docker unpause).
func (c *Cluster) Resume(ctx context.Context, node string) error {
	n, err := c.node(node)
	if err != nil {
		return err
	}
	if _, err := docker(ctx, dockerTimeout, "unpause", n.container); err != nil && !saidAny(err, "is not paused") {
		return fmt.Errorf("dockerrun: resuming %s: %w", node, err)
	}
	delete(c.paused, node)
	return nil
}

// Cut is not supported: a one-way block needs packet filtering, and the
// scratch image has neither iptables nor tc.
func (c *Cluster) Cut(context.Context, string, string) error {
	return fmt.Errorf("dockerrun: one-way cut: %w", chaos.ErrUnsupported)
}

// GossipLoss is not supported: dropping a share of packets needs tc netem.
func (c *Cluster) GossipLoss(context.Context, float64) error {
	return fmt.Errorf("dockerrun: gossip loss: %w", chaos.ErrUnsupported)
}

// RaftDelay is not supported: delaying streams needs tc netem.
func (c *Cluster) RaftDelay(context.Context, time.Duration) error {
	return fmt.Errorf("dockerrun: raft delay: %w", chaos.ErrUnsupported)
}
