package raftnode

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Apply encodes m and commits it; see ApplyBytes.
func (n *Node) Apply(ctx context.Context, m Mutation) (uint64, error) {
	b, err := m.Encode()
	if err != nil {
		return 0, err
	}
	return n.ApplyBytes(ctx, b)
}

// ApplyBytes commits b through the log and waits until the local FSM has
// applied it, returning its index. If the FSM returned an error value for
// it, that error is returned wrapped in ErrFSM along with the index: the
// entry is committed all the same. On a follower it returns a
// *NotLeaderError. A ctx that ends first returns ctx's error; the command
// may still commit (as with any timeout in a distributed system).
func (n *Node) ApplyBytes(ctx context.Context, b []byte) (uint64, error) {
	res, err := n.Propose(ctx, b)
	if err != nil {
		return 0, err
	}
	if e, ok := res.Response.(error); ok {
		return res.Index, fmt.Errorf("%w: %w", ErrFSM, e)
	}
	return res.Index, nil
}

// Propose is ApplyBytes returning the FSM's response too. An error value
// returned by the FSM is delivered in Result.Response, not as err: err only
// reports failures to commit.
func (n *Node) Propose(ctx context.Context, b []byte) (Result, error) {
	start := time.Now()
	f, err := n.do(ctx, func(t time.Duration) raft.Future { return n.raft.Apply(b, t) })
	if err != nil {
		return Result{}, err
	}
	n.metrics.applyLatency.Observe(time.Since(start).Seconds())
	af := f.(raft.ApplyFuture)
	return Result{Index: af.Index(), Response: af.Response()}, nil
}

// Barrier waits until every entry committed before it has been applied to
// the leader's FSM. Leader only.
func (n *Node) Barrier(ctx context.Context) error {
	_, err := n.do(ctx, n.raft.Barrier)
	return err
}

// LinearizableRead returns once a read of the local FSM would be
// linearizable: this node is the leader and has applied every entry
// committed before the call. Followers get a *NotLeaderError (forward the
// read to the leader).
//
// How: the first read in each term runs a Barrier, because a new leader's
// commit index may lag entries its predecessor committed until its own
// first entry commits; the barrier returns only once the FSM has applied
// all of them. Then the commit index is recorded, leadership is confirmed
// with a quorum (VerifyLeader), and the call waits until raft has handed
// that index to the FSM. Raft's applied index means "handed over", so the
// FSM may still be applying the last batch; that is safe because every
// command this leader acknowledged was applied by its FSM before the
// acknowledgement, and everything older is covered by the barrier.
func (n *Node) LinearizableRead(ctx context.Context) error {
	if n.isClosed() {
		return ErrClosed
	}
	if !n.IsLeader() {
		return n.notLeader()
	}
	if term := n.raft.CurrentTerm(); n.readyTerm.Load() != term {
		if err := n.Barrier(ctx); err != nil {
			return err
		}
		n.readyTerm.Store(term)
	}
	readIndex := n.raft.CommitIndex()
	if _, err := n.do(ctx, func(time.Duration) raft.Future { return n.raft.VerifyLeader() }); err != nil {
		return err
	}
	return n.pollUntil(ctx, func() bool { return n.raft.AppliedIndex() >= readIndex })
}
