package proc

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// sysProcAttr puts the process in its own process group and has the kernel
// SIGKILL it when the thread that forked it ends. Pdeathsig fires when the
// forking OS thread ends, not the process; the Go runtime ends a thread
// only when a goroutine exits while locked to it, which the harness never
// does, so that is when the harness dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// waitSignalled waits, bounded by ctx, until every thread of pid is stopped
// (stopped true) or none is. A process that has gone counts as done.
func waitSignalled(ctx context.Context, pid int, stopped bool) error {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		states, err := threadStates(pid)
		if err != nil {
			return nil // exited: nothing left to wait for
		}
		if allStopped(states, stopped) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("proc: pid %d: threads in states %q: %w", pid, states, ctx.Err())
		case <-tick.C:
		}
	}
}

// allStopped reports whether every state letter is 'T' (stopped true) or
// none is.
func allStopped(states []byte, stopped bool) bool {
	for _, s := range states {
		if (s == 'T') != stopped {
			return false
		}
	}
	return true
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
