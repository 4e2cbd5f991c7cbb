package procrun

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// sysProcAttr puts each agent in its own process group, so a Ctrl-C at the
// terminal reaches the runner and not the agents (which would shut down
// gracefully: not a fault the suite chose), and asks the kernel to SIGKILL
// the agent when the runner's process dies without calling Close (a test
// timeout's panic, say), so no agent outlives it. Pdeathsig fires when the
// forking OS thread ends, not the process; the Go runtime ends a thread only
// when a goroutine exits while locked to it, which would take a caller that
// starts nodes from a goroutine it locked with runtime.LockOSThread.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// stopSignal and contSignal pause and resume a process.
var stopSignal, contSignal os.Signal = syscall.SIGSTOP, syscall.SIGCONT

// waitSignalled waits, bounded by ctx, until every thread of pid is stopped
// (stopped true) or none is: a signal is delivered asynchronously, and a
// Pause that returned while the agent still answered would make the
// suite's timings lie. A process that has gone counts as done.
func waitSignalled(ctx context.Context, pid int, stopped bool) error {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		states, err := threadStates(pid)
		if err != nil {
			return nil // exited: nothing left to wait for
		}
		done := true
		for _, s := range states {
			if (s == 'T') != stopped {
				done = false
				break
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("procrun: pid %d: threads in states %q: %w", pid, states, ctx.Err())
		case <-tick.C:
		}
	}
}

// threadStates reads the state letter of each of pid's threads from
// /proc/PID/task/TID/stat ("TID (comm) S ...": the letter follows the
// last ')', as comm may hold anything).
func threadStates(pid int) ([]byte, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var states []byte
	for _, task := range tasks {
		b, err := os.ReadFile(dir + "/" + task.Name() + "/stat")
		if err != nil {
			continue // the thread ended meanwhile
		}
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
			states = append(states, b[i+2])
		}
	}
	if len(states) == 0 {
		return nil, os.ErrNotExist
	}
	return states, nil
}
