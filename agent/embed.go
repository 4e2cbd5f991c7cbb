package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/clusteragent/agent/raftnode"
	"github.com/clusteragent/agent/raftnode/command"
)

// MaxMutationBytes bounds an encoded mutation proposed with Apply: Raft
// replicates every entry to every server and keeps it in the log, so large
// blobs belong elsewhere.
const MaxMutationBytes = 1 << 20

// proposeRetry is the pause between attempts while no leader is known.
const proposeRetry = 50 * time.Millisecond

// errRetryable marks a failure that happened before the mutation reached a
// leader's log, so trying again cannot apply it twice.
var errRetryable = errors.New("not proposed")

// Apply proposes m to the replicated log of the WithFSM state machine and
// returns the entry's index once the leader has committed and applied it.
// It may be called on any member, a gossip-only one too: a follower
// forwards m to the leader over the agent-to-agent port (mutual TLS and the HTTP token apply, as for
// every agent-to-agent call).
//
// An error value returned by the state machine's Apply comes back wrapped
// in raftnode.ErrFSM (the entry is committed all the same); other response
// values stay on the leader. While no leader is known, or the node asked is
// no longer the leader, Apply retries until ctx ends: m was not proposed
// then. Once m may have been proposed, a failure is returned as is, never
// retried, because m may still commit.
//
// Apply returning does not mean this node has applied m yet: call Read
// before reading the local state machine.
func (a *Agent) Apply(ctx context.Context, m command.Mutation) (uint64, error) {
	if err := a.checkEmbedded(false); err != nil {
		return 0, err
	}
	if m.Type == readMarkerType {
		return 0, fmt.Errorf("%w: type %q is the agent's own", command.ErrInvalidMutation, m.Type)
	}
	data, err := m.Encode()
	if err != nil {
		return 0, err
	}
	if len(data) > MaxMutationBytes {
		return 0, fmt.Errorf("%w: %d bytes encoded, the limit is %d", ErrMutationTooLarge, len(data), MaxMutationBytes)
	}
	return a.propose(ctx, data)
}

// Read returns once reading this node's WithFSM state machine is
// linearizable: every mutation whose Apply returned before Read was called
// is in the local state. With stale it returns at once, and the local state
// may lag the leader's by the replication delay (or more, when this node
// is cut off).
//
// On the leader this confirms leadership with a quorum and costs no log
// entry. On a follower it commits a marker entry through the leader (the
// state machine never sees it) and waits until the local state machine has
// applied it, so it costs one write: serve hot reads on the leader, or
// stale ones. A Read that fails (leadership moved mid-way) changes nothing
// and may simply be called again.
func (a *Agent) Read(ctx context.Context, stale bool) error {
	if err := a.checkEmbedded(true); err != nil {
		return err
	}
	if stale {
		return nil
	}
	if a.raft.IsLeader() {
		err := a.raft.LinearizableRead(ctx)
		if !errors.Is(err, raftnode.ErrNotLeader) {
			return err
		}
		// Leadership moved during the read: take the follower's way.
	}
	idx, err := a.propose(ctx, readMarker)
	if err != nil {
		return err
	}
	return a.waitApplied(ctx, idx)
}

// checkEmbedded says why Apply or Read cannot run. A gossip-only member
// holds no state, so it cannot read (needState), but it forwards writes.
func (a *Agent) checkEmbedded(needState bool) error {
	switch {
	case a.user == nil:
		return ErrNoUserFSM
	case needState && !a.cfg.Server:
		return ErrNotServer
	case a.ctx == nil:
		return ErrNotStarted
	case a.ctx.Err() != nil:
		// The peer client outlives Raft, so a stopping agent must not
		// forward either.
		return ErrShutdown
	}
	return nil
}

// propose commits encoded data on the leader, here or through forwarding,
// retrying only what was not proposed.
func (a *Agent) propose(ctx context.Context, data []byte) (uint64, error) {
	for {
		idx, err := a.proposeOnce(ctx, data)
		if !errors.Is(err, errRetryable) {
			return idx, err
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w (last attempt: %v)", ctx.Err(), err)
		case <-a.done:
			return 0, ErrShutdown
		case <-a.clock.After(proposeRetry):
		}
	}
}

func (a *Agent) proposeOnce(ctx context.Context, data []byte) (uint64, error) {
	if a.raft != nil && a.raft.IsLeader() {
		return a.applyLocal(ctx, data)
	}
	addr := backend{a}.LeaderHTTPAddr()
	if addr == "" {
		return 0, fmt.Errorf("%w: %w", errRetryable, raftnode.ErrNoLeader)
	}
	return a.peers.apply(ctx, addr, data)
}

// applyLocal proposes data on this node, which believes it leads. A
// *NotLeaderError comes from raft before the entry was appended, so it is
// retryable.
func (a *Agent) applyLocal(ctx context.Context, data []byte) (uint64, error) {
	res, err := a.raft.Propose(ctx, data)
	if errors.Is(err, raftnode.ErrNotLeader) {
		return 0, fmt.Errorf("%w: %w", errRetryable, err)
	}
	if err != nil {
		return 0, err
	}
	if e, ok := res.Response.(error); ok {
		return res.Index, fmt.Errorf("%w: %w", raftnode.ErrFSM, e)
	}
	return res.Index, nil
}

// waitApplied waits until the local state machine holds entry idx: it has
// applied it (or a later entry), or raft restored or took a snapshot at idx
// or later, which only happens once the state machine's state includes it.
func (a *Agent) waitApplied(ctx context.Context, idx uint64) error {
	t := a.clock.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if a.fsmReached(idx) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for the local state machine to apply entry %d (at %d)", ctx.Err(), idx, a.user.applied.Load())
		case <-a.done:
			return ErrShutdown
		case <-t.C():
		}
	}
}

func (a *Agent) fsmReached(idx uint64) bool {
	if a.user.applied.Load() >= idx {
		return true
	}
	// The wrapper never sees entries a snapshot restore skipped; raft's
	// snapshot index covers them. Asked only once raft has handed idx on.
	if a.raft.AppliedIndex() < idx {
		return false
	}
	snap, err := strconv.ParseUint(a.raft.Stats()["last_snapshot_index"], 10, 64)
	return err == nil && snap >= idx
}
