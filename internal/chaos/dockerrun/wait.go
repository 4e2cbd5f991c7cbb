package dockerrun

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/clusteragent/agent/internal/httpjson"
)

// raftConfiguration is the answer of GET /v1/raft/configuration.
type raftConfiguration struct {
	Index   uint64 `json:"index"`
	Servers []struct {
		ID       string `json:"id"`
		Address  string `json:"address"`
		Suffrage string `json:"suffrage"`
		Leader   bool   `json:"leader"`
	} `json:"servers"`
}

// waitFormed waits until every node in ids reports a Raft configuration of
// exactly ids, all voters, and the same single leader.
func (c *Cluster) waitFormed(ctx context.Context, ids []string) error {
	want := slices.Clone(ids)
	slices.Sort(want)
	return poll(ctx, 200*time.Millisecond, func() error {
		leader := ""
		for _, id := range ids {
			var conf raftConfiguration
			if err := c.getJSON(ctx, id, "/v1/raft/configuration", &conf); err != nil {
				return err
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

// getJSON decodes the JSON answer of GET path on node into v.
func (c *Cluster) getJSON(ctx context.Context, node, path string, v any) error {
	return httpjson.Get(ctx, c.client, c.URL(node)+path, v)
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
