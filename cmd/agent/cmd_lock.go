package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	agentapi "github.com/clusteragent/agent/api"
)

// lockPrefix is the reserved key prefix of `agent lock`: lock NAME is the
// key _lock/NAME, created with cas=0 and attached to the holder's lease.
const lockPrefix = "_lock/"

// defaultLockTTL is the lease TTL of `agent lock` without -ttl.
const defaultLockTTL = 15 * time.Second

// lockStopTimes decides when a holder must stop its COMMAND: the lease may
// run out at lastAck+ttl (lastAck: the send time of the last acknowledged
// grant or renew), so COMMAND gets SIGTERM at termAt and SIGKILL at
// killAt, both before then, by a margin g of ttl/10 (100ms to 2s) each.
func lockStopTimes(lastAck time.Time, ttl time.Duration) (termAt, killAt time.Time) {
	g := min(max(ttl/10, 100*time.Millisecond), 2*time.Second)
	return lastAck.Add(ttl - 2*g), lastAck.Add(ttl - g)
}

func (c *cli) cmdLock(args []string) int {
	cc := c.newClientCmd("agent lock", "[-ttl DURATION] [flags] NAME -- COMMAND [ARGS...]",
		"Runs COMMAND while holding lock NAME (the key _lock/NAME on a lease of -ttl),\n"+
			"renewing the lease every TTL/3. Waits for the lock with a blocking read. If a\n"+
			"renew cannot be confirmed in time, COMMAND gets SIGTERM, then SIGKILL, before\n"+
			"the lease can run out. Exits with COMMAND's status (1 when the lock was lost).\n"+
			"COMMAND sees AGENT_LOCK_INDEX, the lock key's modify index: a fencing token.", false)
	ttl := cc.fs.Duration("ttl", defaultLockTTL, "the lease TTL: how long the lock outlives a holder that stops renewing")
	cc.minArgs, cc.maxArgs, cc.argsHelp = 2, 1<<20, "NAME -- COMMAND [ARGS...]"
	pos, api, code, ok := c.start(cc, args)
	if !ok {
		return code
	}
	if *ttl < time.Second || *ttl > 24*time.Hour {
		return c.usageError(cc.fs, "-ttl must be between 1s and 24h, got %s", *ttl)
	}
	ctx, stop := c.interruptContext()
	defer stop()
	l := &lockSession{api: api, key: lockPrefix + pos[0], ttl: *ttl, log: c.stderr, lost: make(chan struct{})}
	status, err := l.run(ctx, pos[1:])
	if err != nil {
		return c.fail(err)
	}
	return status
}

// lockSession is one holder of one lock.
type lockSession struct {
	api   *apiClient
	key   string
	ttl   time.Duration
	log   interface{ Write([]byte) (int, error) }
	lease string
	// mu guards lastAck, the send time of the last acknowledged grant or
	// renew; lost is closed when the lease is gone (renew answered 404).
	mu       sync.Mutex
	lastAck  time.Time
	lost     chan struct{}
	lostOnce sync.Once
}

// run grants the lease, waits for the lock, runs argv and releases.
func (l *lockSession) run(ctx context.Context, argv []string) (int, error) {
	sent := time.Now()
	info, err := l.api.LeaseGrant(context.Background(), l.ttl)
	err = l.api.check(err)
	if err != nil {
		return 0, fmt.Errorf("granting the lock's lease: %w", err)
	}
	l.lease, l.lastAck = info.ID, sent
	defer l.release()
	rctx, stopRenew := context.WithCancel(ctx)
	defer stopRenew()
	go l.renewLoop(rctx)
	index, err := l.acquire(ctx)
	if err != nil {
		return 0, err
	}
	return l.runCommand(ctx, argv, index)
}

// release revokes the lease, deleting the lock key, best effort: if it
// fails the lock is free once the lease expires.
func (l *lockSession) release() {
	if _, err := l.api.LeaseRevoke(context.Background(), l.lease); err != nil {
		err = l.api.check(err)
		fmt.Fprintf(l.log, "agent: lock: releasing: %v (the lock frees itself within %s)\n", err, l.ttl)
	}
}

// renewLoop renews every ttl/3 until ctx ends or the lease is gone.
func (l *lockSession) renewLoop(ctx context.Context) {
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		_, err := l.api.LeaseRenew(ctx, l.lease)
		err = l.api.check(err)
		switch {
		case err == nil:
			l.mu.Lock()
			l.lastAck = sent
			l.mu.Unlock()
		case errors.Is(err, agentapi.ErrNotFound):
			l.lostOnce.Do(func() { close(l.lost) })
			return
		case ctx.Err() == nil:
			fmt.Fprintf(l.log, "agent: lock: renew failed: %v\n", err)
		}
	}
}

// acquire takes the lock: put the key if absent, else wait for it to go
// with blocking reads. It returns the key's modify index.
func (l *lockSession) acquire(ctx context.Context) (uint64, error) {
	host, _ := os.Hostname()
	holder := fmt.Sprintf(`{"host":%q,"pid":%d,"lease":%q}`, host, os.Getpid(), l.lease)
	opts := &agentapi.PutOptions{CAS: agentapi.Index(0), Lease: l.lease}
	var index uint64
	for {
		res, err := l.api.KVPut(ctx, l.key, []byte(holder), opts)
		switch {
		case err == nil:
			return res.Index, nil
		case !errors.Is(err, agentapi.ErrCASFailed):
			return 0, fmt.Errorf("taking the lock: %w", l.api.check(err))
		}
		if index, err = l.waitFree(ctx, index); err != nil {
			return 0, err
		}
	}
}

// waitFree blocks until the lock key is gone (or changed after index) and
// returns the index to wait from next.
func (l *lockSession) waitFree(ctx context.Context, index uint64) (uint64, error) {
	_, meta, err := l.api.KVGet(ctx, l.key, &agentapi.QueryOptions{WaitIndex: index, WaitTime: l.ttl})
	if err != nil && !errors.Is(err, agentapi.ErrNotFound) {
		return 0, fmt.Errorf("waiting for the lock: %w", l.api.check(err))
	}
	select {
	case <-l.lost:
		return 0, errors.New("the lease expired while waiting for the lock")
	case <-ctx.Done():
		return 0, errors.New("interrupted while waiting for the lock")
	default:
	}
	return meta.Index, nil
}

// runCommand runs argv in its own process group while the lock holds, and
// stops it (SIGTERM, then SIGKILL) when the lock may be lost.
func (l *lockSession) runCommand(ctx context.Context, argv []string, index uint64) (int, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "AGENT_LOCK_INDEX="+strconv.FormatUint(index, 10), "AGENT_LOCK_LEASE="+l.lease)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	lost := l.supervise(ctx, cmd.Process.Pid, exited)
	<-exited
	if lost {
		return 0, fmt.Errorf("lock %s lost (lease %s could not be renewed in time); %s was stopped", l.key, l.lease, argv[0])
	}
	if code := cmd.ProcessState.ExitCode(); code >= 0 {
		return code, nil
	}
	return exitFail, nil // killed by a signal
}
