package agent_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/api"
)

// TestEmbeddedClientOnAFollower: a program embedding the agent reaches
// leases, blocking reads and locks from Go through Agent.Client, also on a
// follower (which forwards to the leader), with the agent's token.
func TestEmbeddedClientOnAFollower(t *testing.T) {
	nodes := startExpectCluster(t, 3, func(c *agent.Config) { c.HTTP.Token = "s3cret" })
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	leader := agenttest.Leader(nodes...)
	var follower *agenttest.Node
	for _, n := range nodes {
		if n != leader {
			follower = n
		}
	}
	c, err := follower.Agent.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	lease, err := c.LeaseGrant(ctx, 30*time.Second)
	if err != nil {
		t.Fatalf("LeaseGrant through a follower: %v", err)
	}
	w, err := c.KVPut(ctx, "embedded/k", []byte("1"), &api.PutOptions{Lease: lease.ID})
	if err != nil {
		t.Fatalf("KVPut on the lease: %v", err)
	}
	woke := make(chan error, 1)
	go func() {
		_, _, err := c.KVGet(ctx, "embedded/k", &api.QueryOptions{WaitIndex: w.Index, WaitTime: 30 * time.Second})
		woke <- err
	}()
	if _, err := c.LeaseRevoke(ctx, lease.ID); err != nil {
		t.Fatalf("LeaseRevoke: %v", err)
	}
	select {
	case err := <-woke:
		if !errors.Is(err, api.ErrNotFound) {
			t.Fatalf("blocking read after the revoke: %v, want ErrNotFound", err)
		}
	case <-ctx.Done():
		t.Fatal("the blocking read did not wake on the revoke")
	}

	l := c.NewLock("embedded", 5*time.Second, []byte("me"))
	if idx, err := l.Acquire(ctx); err != nil || idx == 0 {
		t.Fatalf("Acquire: %d, %v", idx, err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
