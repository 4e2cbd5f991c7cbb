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
	running := c.Running()
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

// WaitLeader polls until Leader succeeds and returns the leader. A node
// that exits without having been killed by the harness ends the wait at
// once; ctx ending ends it with the last reason there was no leader.
func (c *Cluster) WaitLeader(ctx context.Context) (*Node, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		leader, err := c.Leader(ctx)
		if err == nil {
			return leader, nil
		}
		for _, n := range c.Nodes {
			if exit := n.proc.Exited(); exit != nil && !n.proc.Killed() {
				return nil, exit
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("agentcluster: no leader: %w (last: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// Whole reports, with nil, that the cluster is whole again: the running
// nodes are exactly the voters of the leader's configuration and all name
// that leader in its term, each has applied everything the leader had
// committed when asked, and the leader's gossip lists each of them alive.
// Otherwise it says what is still missing. It returns the leader's status.
func (c *Cluster) Whole(ctx context.Context) (Status, error) {
	leader, err := c.Leader(ctx)
	if err != nil {
		return Status{}, err
	}
	ls, err := NodeStatus(ctx, leader)
	if err != nil {
		return Status{}, fmt.Errorf("leader %s: %w", leader.ID, err)
	}
	if ls.State != "leader" {
		return ls, fmt.Errorf("%s is named leader but reports itself %s", leader.ID, ls.State)
	}
	running := c.Running()
	servers, err := Configuration(ctx, leader)
	if err != nil {
		return ls, fmt.Errorf("leader %s: %w", leader.ID, err)
	}
	voters := 0
	for _, s := range servers {
		if s.Suffrage == "voter" {
			voters++
		}
	}
	if voters != len(running) {
		return ls, fmt.Errorf("leader %s has %d voters, %d nodes run", leader.ID, voters, len(running))
	}
	for _, n := range running {
		if n == leader {
			continue
		}
		st, err := NodeStatus(ctx, n)
		if err != nil {
			return ls, fmt.Errorf("%s: %w", n.ID, err)
		}
		if st.Term != ls.Term || st.LeaderID != leader.ID {
			return ls, fmt.Errorf("%s is in term %d under %q, the leader %s in term %d", n.ID, st.Term, st.LeaderID, leader.ID, ls.Term)
		}
		if st.AppliedIndex < ls.CommitIndex {
			return ls, fmt.Errorf("%s has applied %d of the leader's %d", n.ID, st.AppliedIndex, ls.CommitIndex)
		}
	}
	ms, err := Members(ctx, leader)
	if err != nil {
		return ls, fmt.Errorf("leader %s: %w", leader.ID, err)
	}
	alive := map[string]bool{}
	for _, m := range ms {
		if m.Status == "alive" {
			alive[m.ID] = true
		}
	}
	for _, n := range running {
		if !alive[n.ID] {
			return ls, fmt.Errorf("leader %s's gossip does not list %s alive", leader.ID, n.ID)
		}
	}
	return ls, nil
}

// WaitWhole polls Whole until it holds, a process exits, or ctx ends; the
// error then carries what Whole last said was missing.
func (c *Cluster) WaitWhole(ctx context.Context, every time.Duration) (Status, error) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		st, err := c.Whole(ctx)
		if err == nil {
			return st, nil
		}
		for _, n := range c.Nodes {
			// Nodes killed on purpose are expected to be gone.
			if n.proc.Exited() != nil && !n.proc.Killed() {
				return st, n.proc.Exited()
			}
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("agentcluster: cluster not whole: %w (last: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}
