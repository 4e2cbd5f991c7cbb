package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	agentapi "github.com/clusteragent/agent/api"
)

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
	host, _ := os.Hostname()
	holder := fmt.Sprintf(`{"host":%q,"pid":%d}`, host, os.Getpid())
	l := &lockSession{api: api, lock: api.NewLock(pos[0], *ttl, []byte(holder)), ttl: *ttl, log: c.stderr}
	status, err := l.run(ctx, pos[1:])
	if err != nil {
		return c.fail(err)
	}
	return status
}

// lockSession is one run of agent lock: the api.Lock it holds and the
// COMMAND it supervises.
type lockSession struct {
	api  *apiClient
	lock *agentapi.Lock
	ttl  time.Duration
	log  interface{ Write([]byte) (int, error) }
}

// run takes the lock, runs argv under it and releases it.
func (l *lockSession) run(ctx context.Context, argv []string) (int, error) {
	l.lock.OnRenewError = func(err error) {
		fmt.Fprintf(l.log, "agent: lock: renew failed: %v\n", l.api.check(err))
	}
	index, err := l.lock.Acquire(ctx)
	switch {
	case errors.Is(err, agentapi.ErrLockLost):
		return 0, errors.New("the lease expired while waiting for the lock")
	case err != nil && ctx.Err() != nil:
		return 0, errors.New("interrupted while waiting for the lock")
	case err != nil:
		return 0, l.api.check(err)
	}
	defer l.release()
	return l.runCommand(ctx, argv, index)
}

// release revokes the lease, which frees the lock at once.
func (l *lockSession) release() {
	if err := l.lock.Release(context.Background()); err != nil {
		fmt.Fprintf(l.log, "agent: lock: %v\n", l.api.check(err))
	}
}

// runCommand runs argv in its own process group while the lock holds, and
// stops it (SIGTERM, then SIGKILL) when the lock may be lost.
func (l *lockSession) runCommand(ctx context.Context, argv []string, index uint64) (int, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "AGENT_LOCK_INDEX="+strconv.FormatUint(index, 10), "AGENT_LOCK_LEASE="+l.lock.Lease())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	lost := l.supervise(ctx, cmd.Process.Pid, exited)
	<-exited
	if lost {
		return 0, fmt.Errorf("lock %s lost (lease %s could not be renewed in time); %s was stopped", l.lock.Key(), l.lock.Lease(), argv[0])
	}
	if code := cmd.ProcessState.ExitCode(); code >= 0 {
		return code, nil
	}
	return exitFail, nil // killed by a signal
}
