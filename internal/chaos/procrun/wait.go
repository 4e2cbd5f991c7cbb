package procrun

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clusteragent/agent/bench/proc"
)

// formedPoll is how often Start re-checks whether the cluster has formed.
const formedPoll = 100 * time.Millisecond

// waitFormed polls every node's Raft configuration until each of them lists
// every node as a voter and names the same single leader, which it returns.
// A process that exits meanwhile ends the wait at once, with its log.
func (c *Cluster) waitFormed(ctx context.Context) (string, error) {
	c.mu.Lock()
	nodes := append([]*node(nil), c.nodes...)
	c.mu.Unlock()
	tick := time.NewTicker(formedPoll)
	defer tick.Stop()
	for {
		leader, err := c.formed(ctx, nodes)
		var exit *exitError
		switch {
		case err == nil:
			return leader, nil
		case errors.As(err, &exit):
			return "", err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("procrun: cluster did not form: %w (last: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// formed checks once what waitFormed waits for.
func (c *Cluster) formed(ctx context.Context, nodes []*node) (string, error) {
	leader := ""
	for _, nd := range nodes {
		c.mu.Lock()
		p := nd.proc
		c.mu.Unlock()
		if p == nil || !p.Running() {
			return "", &exitError{node: nd.cfg.ID, log: proc.LogTail(nd.logPath, 20)}
		}
		cfg, err := nd.api.RaftConfiguration(ctx)
		if err != nil {
			return "", fmt.Errorf("%s: %w", nd.cfg.ID, err)
		}
		voters, leaders := map[string]bool{}, []string{}
		for _, s := range cfg.Servers {
			if s.Suffrage == "voter" {
				voters[s.ID] = true
			}
			if s.Leader {
				leaders = append(leaders, s.ID)
			}
		}
		for _, other := range nodes {
			if !voters[other.cfg.ID] {
				return "", fmt.Errorf("%s does not list %s as a voter yet", nd.cfg.ID, other.cfg.ID)
			}
		}
		if len(leaders) != 1 {
			return "", fmt.Errorf("%s sees leaders %v", nd.cfg.ID, leaders)
		}
		if leader != "" && leaders[0] != leader {
			return "", fmt.Errorf("%s sees leader %s, others %s", nd.cfg.ID, leaders[0], leader)
		}
		leader = leaders[0]
	}
	return leader, nil
}

// exitError reports a process that exited while the cluster formed, which
// no amount of waiting mends.
type exitError struct {
	node string
	log  string // its last lines
}

func (e *exitError) Error() string {
	return fmt.Sprintf("procrun: %s exited while the cluster formed; its log ends:\n%s", e.node, e.log)
}
