package procrun

import (
	"context"
	"fmt"
	"time"

	"github.com/clusteragent/agent/bench/proc"
	"github.com/clusteragent/agent/internal/chaos"
	"github.com/clusteragent/agent/internal/freeport"
)

// Kill SIGKILLs node and waits until its process is reaped, so its ports
// are free for Restart. A node that is not running is left as it is.
func (c *Cluster) Kill(ctx context.Context, node string) error {
	c.mu.Lock()
	nd, err := c.lookupLocked(node)
	var p *proc.Process
	if err == nil {
		p = nd.proc
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if p == nil || !p.Running() {
		return nil
	}
	if err := p.Kill(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	if nd.proc == p {
		nd.paused = false
	}
	c.mu.Unlock()
	c.logf("procrun: killed %s (pid %d)", node, p.Pid())
	return nil
}

// Restart starts node's process again with its config, data dir and ports.
// It does not wait for the node to rejoin; that is what the suite measures.
func (c *Cluster) Restart(ctx context.Context, node string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	nd, err := c.lookupLocked(node)
	if err != nil {
		return err
	}
	if nd.proc != nil && nd.proc.Running() {
		return fmt.Errorf("procrun: restart %s: still running (pid %d)", node, nd.proc.Pid())
	}
	return c.startLocked(nd)
}

// Pause freezes node's process with SIGSTOP. On Linux it returns once every
// thread of the process has stopped.
func (c *Cluster) Pause(ctx context.Context, node string) error {
	return c.setPaused(ctx, node, true)
}

// Resume thaws node's process with SIGCONT. On Linux it returns once no
// thread of the process is stopped.
func (c *Cluster) Resume(ctx context.Context, node string) error {
	return c.setPaused(ctx, node, false)
}

func (c *Cluster) setPaused(ctx context.Context, node string, pause bool) error {
	if !proc.CanPause() {
		return chaos.ErrUnsupported
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	nd, err := c.lookupLocked(node)
	var p *proc.Process
	switch {
	case err != nil:
	case nd.proc == nil:
		err = fmt.Errorf("procrun: %s was never started", node)
	case !nd.proc.Running():
		err = fmt.Errorf("procrun: %s is not running", node)
	default:
		// Marked before the signal, so a Close meanwhile resumes it: a
		// process that is not stopped is unaffected by that.
		p, nd.paused = nd.proc, pause
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if pause {
		return p.Pause(ctx)
	}
	return p.Resume(ctx)
}

// Partition is not supported: loopback processes share one network.
func (c *Cluster) Partition(context.Context, [][]string) error { return chaos.ErrUnsupported }

// Cut is not supported: loopback processes share one network.
func (c *Cluster) Cut(context.Context, string, string) error { return chaos.ErrUnsupported }

// GossipLoss is not supported: loopback processes share one network.
func (c *Cluster) GossipLoss(context.Context, float64) error { return chaos.ErrUnsupported }

// RaftDelay is not supported: loopback processes share one network.
func (c *Cluster) RaftDelay(context.Context, time.Duration) error { return chaos.ErrUnsupported }

// Heal has no network fault to remove.
func (c *Cluster) Heal(context.Context) error { return nil }

// AddNode starts a fresh server n<k> on new ports that joins through the
// existing nodes' gossip addresses, n1's first, without bootstrap_expect:
// the leader adds it as a non-voter and autopilot promotes it if max_voters
// allows. It does not wait for that.
//
// Every earlier node is a seed, not n1 alone, because churn may have killed
// n1 for good; one live seed is enough to join.
func (c *Cluster) AddNode(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return "", ErrClosed
	}
	ports, err := freeport.Ports(3, c.ports)
	if err != nil {
		return "", err
	}
	seeds := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		seeds[i] = hostPort(nd.cfg.GossipPort)
	}
	nd, err := c.addNodeLocked(nodeConfig{
		ID:         fmt.Sprintf("n%d", len(c.nodes)+1),
		GossipPort: ports[0],
		RaftPort:   ports[1],
		HTTPPort:   ports[2],
		Join:       seeds,
	})
	if err != nil {
		return "", err
	}
	if err := c.startLocked(nd); err != nil {
		// Never started, so not one of Nodes; its ports stay taken.
		c.nodes = c.nodes[:len(c.nodes)-1]
		delete(c.byID, nd.cfg.ID)
		return "", err
	}
	return nd.cfg.ID, nil
}
