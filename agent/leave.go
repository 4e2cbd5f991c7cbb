package agent

import (
	"context"
	"fmt"
	"time"
)

// leave is the graceful exit: hand off leadership, have the leader remove
// this server from Raft, then leave gossip so every member sees "left"
// rather than "dead". Each step is bounded; a failed Raft removal is
// reported but the gossip leave still happens, after which the leader's
// autopilot removes the departed server on its own.
func (a *Agent) leave(ctx context.Context) error {
	if a.onStop != nil {
		a.onStop() // leaving gossip closes memberlist's sockets
	}
	ctx, cancel := context.WithTimeout(ctx, a.shutdownTimeout())
	defer cancel()
	var raftErr error
	if a.raft != nil && a.raft.HasState() {
		a.handOffLeadership(ctx)
		raftErr = a.leaveRaft(ctx)
	}
	if err := a.gossip.Leave(a.shutdownTimeout()); err != nil {
		return fmt.Errorf("gossip leave: %w", err)
	}
	a.logger.Info("left the cluster")
	return raftErr
}

// leaveRaft asks the current leader to remove this node, retrying while
// leadership settles, until the removal is committed or ctx ends.
func (a *Agent) leaveRaft(ctx context.Context) error {
	if a.raft.IsLeader() && a.otherVoters(ctx) == 0 {
		return nil // the last server: nobody is left to remove it
	}
	var last error
	for {
		leaderHTTP := backend{a}.LeaderHTTPAddr()
		if a.raft.IsLeader() {
			last = a.raft.RemoveServer(ctx, a.NodeID())
		} else if leaderHTTP != "" {
			last = a.peers.RemovePeer(ctx, leaderHTTP, a.NodeID())
		} else {
			last = fmt.Errorf("no leader known")
		}
		if last == nil {
			a.logger.Info("removed from raft configuration")
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("leaving raft: %w (last error: %v)", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
