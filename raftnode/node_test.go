package raftnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clusteragent/agent/internal/testutil"
	"github.com/clusteragent/agent/raftnode/raftnodetest"
)

func TestSingleNodeBootstrapsAndApplies(t *testing.T) {
	t.Parallel()
	o := baseOptions(t, "solo")
	o.Peers = map[string]string{"solo": o.Listener.Addr().String()}
	n := startNode(t, o)
	if !n.HasState() {
		t.Fatal("a node that bootstrapped alone reports no state")
	}
	waitLeader(t, n)
	select {
	case v := <-n.LeaderCh():
		if !v {
			t.Fatal("first leadership notification is false")
		}
	case <-time.After(waitTimeout):
		t.Fatal("no leadership notification")
	}

	idx, err := n.Apply(ctxT(t), mustMutation(t, "set", "v"))
	if err != nil || idx == 0 {
		t.Fatalf("Apply: %d %v", idx, err)
	}
	res, err := n.Propose(ctxT(t), []byte("hello"))
	if err != nil || res.Index <= idx || res.Response != res.Index {
		t.Fatalf("Propose: %+v %v", res, err)
	}
	// The FSM rejects "reject": committed, but the error travels back.
	res, err = n.Propose(ctxT(t), []byte("reject"))
	if err != nil || !errors.Is(res.Response.(error), raftnodetest.ErrRejected) {
		t.Fatalf("Propose(reject): %+v %v", res, err)
	}
	idx, err = n.ApplyBytes(ctxT(t), []byte("reject"))
	if !errors.Is(err, ErrFSM) || !errors.Is(err, raftnodetest.ErrRejected) || idx == 0 {
		t.Fatalf("ApplyBytes(reject): %d %v", idx, err)
	}
	if got := n.fsm.Len(); got != 4 {
		t.Fatalf("FSM applied %d commands, want 4", got)
	}

	// raft records the applied index just after handing entries to the FSM,
	// so it can trail the FSM for a moment.
	testutil.WaitFor(t, waitTimeout, func() error {
		if got := n.Status().AppliedIndex; got < idx {
			return fmt.Errorf("applied index %d < %d", got, idx)
		}
		return nil
	})
	st := n.Status()
	if st.State != "leader" || st.LeaderID != "solo" || st.LeaderAddr != n.Addr() || st.LastContact != 0 ||
		st.CommitIndex < idx || st.LastLogIndex < idx || st.Term == 0 || st.LastLogTerm == 0 {
		t.Fatalf("unexpected status %+v", st)
	}
	if n.Stats()["state"] != "Leader" {
		t.Fatalf("Stats: %v", n.Stats())
	}
	cfg, err := n.GetConfiguration(ctxT(t))
	if err != nil || len(cfg.Servers) != 1 || !cfg.Servers[0].Leader || cfg.Servers[0].Suffrage != "voter" {
		t.Fatalf("configuration %+v %v", cfg, err)
	}
	if err := n.Bootstrap([]Server{{ID: "solo", Address: n.Addr()}}); !errors.Is(err, ErrExistingState) {
		t.Fatalf("second Bootstrap: %v", err)
	}
	if err := n.Barrier(ctxT(t)); err != nil {
		t.Fatalf("Barrier: %v", err)
	}
	if err := n.TransferLeadership(ctxT(t), ""); err == nil {
		t.Fatal("TransferLeadership with no other voter succeeded")
	}
}

func TestBootstrapLater(t *testing.T) {
	t.Parallel()
	n := startNode(t, baseOptions(t, "late"))
	if n.HasState() {
		t.Fatal("fresh node without peers has state")
	}
	if _, err := n.ApplyBytes(ctxT(t), []byte("x")); !errors.Is(err, ErrNoLeader) || !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Apply before bootstrap: %v", err)
	}
	if err := n.Bootstrap([]Server{{ID: "other", Address: "127.0.0.1:1"}}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Bootstrap without self: %v", err)
	}
	if err := n.Bootstrap([]Server{{ID: "late", Address: n.Addr()}}); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	waitLeader(t, n)
	if err := n.Bootstrap([]Server{{ID: "late", Address: n.Addr()}}); !errors.Is(err, ErrExistingState) {
		t.Fatalf("Bootstrap again: %v", err)
	}
}

func TestBootstrapPreferredWithPeers(t *testing.T) {
	t.Parallel()
	o := baseOptions(t, "z")
	// The peers are unreachable: only the configuration is checked.
	o.Peers = map[string]string{"a": "127.0.0.1:1", "b": "127.0.0.1:2"}
	o.BootstrapPreferred = true
	n := startNode(t, o)
	got := suffrages(t, n)
	if len(got) != 3 || got["a"] != "voter" || got["b"] != "voter" || got["z"] != "voter" {
		t.Fatalf("bootstrap configuration %v", got)
	}
}

func TestRestartKeepsStateAndNeverBootstrapsAgain(t *testing.T) {
	t.Parallel()
	o := baseOptions(t, "r")
	o.Peers = map[string]string{"r": o.Listener.Addr().String()}
	o.TrailingLogs = 1 // the snapshot compacts the log, bootstrap entry included
	n, err := NewNode(o)
	if err != nil {
		t.Fatal(err)
	}
	first := &testNode{Node: n, fsm: o.FSM.(*raftnodetest.FSM)}
	waitLeader(t, first)
	applyN(t, first, "before-snapshot", 3)
	if err := n.Raft().Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	applyN(t, first, "after-snapshot", 2)
	lastIndex := n.Status().LastLogIndex

	// A second node on the same data dir is refused while the first runs.
	clash := o
	clash.Listener = listen(t)
	clash.FSM = raftnodetest.NewFSM()
	if _, err := NewNode(clash); !errors.Is(err, ErrDataDirInUse) {
		t.Fatalf("second node on a busy data dir: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopen with every bootstrap setting on: state on disk must win.
	again := o
	again.Listener = listen(t)
	again.Peers = map[string]string{"r": again.Listener.Addr().String()}
	again.BootstrapPreferred = true
	again.FSM = raftnodetest.NewFSM()
	r := startNode(t, again)
	if !r.hadState {
		t.Fatal("reopened node did not see its state")
	}
	waitLeader(t, r)
	waitApplied(t, 5, r) // 3 from the snapshot, 2 replayed from the log
	if st := r.Status(); st.LastLogIndex < lastIndex {
		t.Fatalf("log shrank across restart: %d < %d", st.LastLogIndex, lastIndex)
	}
	if got := r.fsm.Entries(); string(got[0].Data) != "before-snapshot-0" || string(got[4].Data) != "after-snapshot-1" {
		t.Fatalf("restored entries %+v", got)
	}
	// The bootstrap configuration (index 1) now lives only in the snapshot.
	cfg, err := r.GetConfiguration(ctxT(t))
	if err != nil || len(cfg.Servers) != 1 || cfg.Index != 1 {
		t.Fatalf("configuration after restart: %+v %v", cfg, err)
	}
}

func TestContextHonoured(t *testing.T) {
	t.Parallel()
	o := baseOptions(t, "ctx")
	o.BootstrapPreferred = true
	n := startNode(t, o)
	waitLeader(t, n)

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := n.ApplyBytes(cancelled, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with a cancelled ctx: %v", err)
	}
	if err := n.LinearizableRead(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("LinearizableRead with a cancelled ctx: %v", err)
	}

	// With the FSM stuck, Apply cannot finish: it must give up at the
	// deadline, not when raft does.
	n.fsm.Block()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := n.ApplyBytes(ctx, []byte("stuck"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Apply with a blocked FSM: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Apply returned %s after its 200ms deadline", took)
	}
	n.fsm.Unblock()
	waitApplied(t, 1, n) // the abandoned command still commits
	if _, err := n.ApplyBytes(ctxT(t), []byte("after")); err != nil {
		t.Fatalf("Apply after unblocking: %v", err)
	}
}

func TestCloseIsIdempotentAndStopsEverything(t *testing.T) {
	// Not parallel: goleak compares against the goroutines present now.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	nodes := startCluster(t, []string{"c1", "c2"}, nil)
	applyCluster(t, nodes, "x", 3)
	waitApplied(t, 3, nodes...)
	for _, n := range nodes {
		if err := n.Close(); err != nil {
			t.Fatalf("Close %s: %v", n.NodeID(), err)
		}
		if err := n.Close(); err != nil {
			t.Fatalf("second Close %s: %v", n.NodeID(), err)
		}
	}
	n := nodes[0]
	if _, err := n.ApplyBytes(ctxT(t), []byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Close: %v", err)
	}
	if err := n.AddVoter(ctxT(t), "x", "127.0.0.1:1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("AddVoter after Close: %v", err)
	}
	if _, err := n.GetConfiguration(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("GetConfiguration after Close: %v", err)
	}
	if err := n.Bootstrap([]Server{{ID: n.NodeID(), Address: n.Addr()}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Bootstrap after Close: %v", err)
	}
	if st := n.Status(); st.State != "shutdown" {
		t.Fatalf("state after Close: %s", st.State)
	}
	// The data dir is free again.
	o := n.opts
	o.Listener = listen(t)
	o.FSM = raftnodetest.NewFSM()
	reopened, err := NewNode(o)
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	if err := reopened.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseUnblocksPendingCalls(t *testing.T) {
	t.Parallel()
	o := baseOptions(t, "pending")
	o.BootstrapPreferred = true
	n := startNode(t, o)
	waitLeader(t, n)
	n.fsm.Block()
	errCh := make(chan error, 1)
	go func() {
		_, err := n.ApplyBytes(context.Background(), []byte("x"))
		errCh <- err
	}()
	// Wait until the command is committed and stuck in the FSM.
	testutil.WaitFor(t, waitTimeout, func() error {
		if ci := n.Raft().CommitIndex(); ci < n.Raft().LastIndex() {
			return fmt.Errorf("commit index %d", ci)
		}
		return nil
	})
	closed := make(chan error, 1)
	go func() { closed <- n.Close() }()
	select {
	case err := <-errCh:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("pending Apply returned %v, want ErrClosed", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("pending Apply not released by Close")
	}
	n.fsm.Unblock()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestNewNodeFailsCleanly(t *testing.T) {
	t.Parallel()
	if _, err := NewNode(Options{NodeID: "x"}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("invalid options: %v", err)
	}
	// A wildcard listener without AdvertiseAddr cannot be advertised; the
	// listener must be closed on the way out.
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	o := baseOptions(t, "wild")
	_ = o.Listener.Close()
	o.Listener = ln
	if _, err := NewNode(o); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("unspecified advertise: %v", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("listener left open: %v", err)
	}
	// AdvertiseAddr with port 0 takes the listener's port.
	o = baseOptions(t, "adv")
	o.AdvertiseAddr = "localhost:0"
	n := startNode(t, o)
	_, port, _ := net.SplitHostPort(o.Listener.Addr().String())
	if n.Addr() != "localhost:"+port {
		t.Fatalf("advertised %s, want localhost:%s", n.Addr(), port)
	}
	// A raft failure (bad data dir) also cleans up.
	o = baseOptions(t, "baddir")
	o.DataDir = "/proc/nonexistent/raft"
	if _, err := NewNode(o); err == nil {
		t.Fatal("NewNode with an unusable data dir succeeded")
	}
}

func mustMutation(t *testing.T, typ string, payload any) Mutation {
	t.Helper()
	m, err := NewMutation(typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
