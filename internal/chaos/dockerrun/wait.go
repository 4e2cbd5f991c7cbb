package dockerrun

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/clusteragent/agent/api"
)

// waitFormed waits until every node in ids reports a Raft configuration of
// exactly ids, all voters, and the same single leader.
func (c *Cluster) waitFormed(ctx context.Context, ids []string) error {
	want := slices.Clone(ids)
	slices.Sort(want)
	return poll(ctx, 200*time.Millisecond, func() error {
		leader := ""
		for _, id := range ids {
			a, err := c.api(id)
			if err != nil {
				return err
			}
			conf, err := a.RaftConfiguration(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
			var voters, leaders []string
			for _, s := range conf.Servers {
				if s.Suffrage == "voter" {
					voters = append(voters, s.ID)
				}
				if s.Leader {
					leaders = append(leaders, s.ID)
				}
			}
			slices.Sort(voters)
			if !slices.Equal(voters, want) || len(conf.Servers) != len(want) || len(leaders) != 1 {
				return fmt.Errorf("%s sees voters %v of %d servers and leaders %v, want voters %v and one leader",
					id, voters, len(conf.Servers), leaders, want)
			}
			if leader != "" && leaders[0] != leader {
				return fmt.Errorf("%s sees leader %s, another node sees %s", id, leaders[0], leader)
			}
			leader = leaders[0]
		}
		return nil
	})
}

// api is node's client API at its current address.
func (c *Cluster) api(node string) (*api.Client, error) {
	u := c.URL(node)
	if u == "" {
		return nil, fmt.Errorf("dockerrun: unknown node %q", node)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.apis[u]; ok {
		return a, nil
	}
	a, err := api.NewClient(api.Config{Address: u, HTTPClient: c.client})
	if err != nil {
		return nil, fmt.Errorf("dockerrun: %w", err)
	}
	if c.apis == nil {
		c.apis = map[string]*api.Client{}
	}
	c.apis[u] = a
	return a, nil
}

// poll calls cond every interval until it returns nil or ctx ends; then it
// returns the last error cond gave, so a timeout says what was not yet true.
func poll(ctx context.Context, interval time.Duration, cond func() error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("dockerrun: gave up: %w", ctx.Err()), err)
		case <-t.C:
		}
	}
}
