package raftnode

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// defaultTimeout is raft's enqueue timeout for calls whose context has no
// deadline, so a wedged raft cannot hold a caller forever even then.
const defaultTimeout = 10 * time.Second

// pollInterval is how often waits on raft state (applied index, leadership
// after a transfer) re-check. Raft offers no notification for these.
const pollInterval = 5 * time.Millisecond

// inflight counts goroutines blocked on raft futures, so Close can wait for
// them without a goroutine of its own.
type inflight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed while n == 0
}

func (f *inflight) init() {
	f.idle = make(chan struct{})
	close(f.idle)
}

func (f *inflight) add() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		f.idle = make(chan struct{})
	}
	f.n++
}

func (f *inflight) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if f.n == 0 {
		close(f.idle)
	}
}

// wait reports whether the count reached zero within timeout.
func (f *inflight) wait(timeout time.Duration) bool {
	f.mu.Lock()
	idle := f.idle
	f.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-idle:
		return true
	case <-t.C:
		return false
	}
}

// raftTimeout converts ctx into raft's timeout argument: the time left until
// the deadline, or defaultTimeout without one.
func raftTimeout(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	dl, ok := ctx.Deadline()
	if !ok {
		return defaultTimeout, nil
	}
	left := time.Until(dl)
	if left <= 0 {
		return 0, context.DeadlineExceeded
	}
	return left, nil
}

// do starts a raft operation and waits for its future, returning early with
// ctx's error when ctx ends or ErrClosed when the node closes. Raft futures
// cannot be selected on, so one goroutine submits and waits; it is counted
// in n.inflight and always ends, because raft answers every future it
// accepted (at the latest with ErrRaftShutdown) and Close lets pending ones
// finish before shutting raft down. Errors are mapped by mapErr.
func (n *Node) do(ctx context.Context, start func(timeout time.Duration) raft.Future) (raft.Future, error) {
	timeout, err := raftTimeout(ctx)
	if err != nil {
		return nil, err
	}
	n.mu.RLock()
	if n.closed {
		n.mu.RUnlock()
		return nil, ErrClosed
	}
	n.inflight.add()
	n.mu.RUnlock()

	type outcome struct {
		f   raft.Future
		err error
	}
	ch := make(chan outcome, 1)
	go func() {
		defer n.inflight.done()
		f := start(timeout)
		ch <- outcome{f, f.Error()}
	}()
	select {
	case o := <-ch:
		if o.err != nil {
			return nil, n.mapErr(o.err)
		}
		return o.f, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-n.closing:
		return nil, ErrClosed
	}
}

// mapErr turns raft's errors into this package's.
func (n *Node) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrNotVoter):
		return n.notLeader()
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("raftnode: %w: %w", context.DeadlineExceeded, err)
	default:
		return fmt.Errorf("raftnode: %w", err)
	}
}

// notLeader describes the leader as this node currently sees it.
func (n *Node) notLeader() error {
	addr, id := n.raft.LeaderWithID()
	if string(id) == n.opts.NodeID {
		// Raft refused while still naming us: we are stepping down, so
		// the next leader is not known yet.
		addr, id = "", ""
	}
	return &NotLeaderError{LeaderID: string(id), LeaderAddr: string(addr)}
}

// pollUntil re-checks cond every pollInterval until it holds, ctx ends or
// the node closes.
func (n *Node) pollUntil(ctx context.Context, cond func() bool) error {
	if cond() {
		return nil
	}
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if cond() {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-n.closing:
			return ErrClosed
		}
	}
}
