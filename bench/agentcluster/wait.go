package agentcluster

import (
	"context"
	"fmt"
	"time"
)

// Leader is the node every running node names as the leader of a
// configuration in which all running nodes vote, or an error saying why
// there is none yet.
func (c *Cluster) Leader(ctx context.Context) (*Node, error) {
	var running []*Node
	for _, n := range c.Nodes {
		if n.Running() {
			running = append(running, n)
		}
	}
	leader := ""
	for _, n := range running {
		servers, err := Configuration(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.ID, err)
		}
		voters, leaders := map[string]bool{}, []string{}
		for _, s := range servers {
			if s.Suffrage == "voter" {
				voters[s.ID] = true
			}
			if s.Leader {
				leaders = append(leaders, s.ID)
			}
		}
		for _, other := range running {
			if !voters[other.ID] {
				return nil, fmt.Errorf("%s does not list %s as a voter yet", n.ID, other.ID)
			}
		}
		if len(leaders) != 1 || (leader != "" && leaders[0] != leader) {
			return nil, fmt.Errorf("%s sees leaders %v, others %q", n.ID, leaders, leader)
		}
		leader = leaders[0]
	}
	for _, n := range running {
		if n.ID == leader {
			return n, nil
		}
	}
	return nil, fmt.Errorf("leader %q is not a running node of this cluster", leader)
}

// waitFormed polls until Leader succeeds. A process that exits ends the
// wait at once.
func (c *Cluster) waitFormed(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := c.Leader(ctx)
		if err == nil {
			return nil
		}
		for _, n := range c.Nodes {
			if exit := n.proc.Exited(); exit != nil {
				return exit
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("agentcluster: cluster did not form: %w (last: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}
