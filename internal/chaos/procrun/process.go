package procrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
)

// process is one run of the agent binary: a node has a new one after each
// restart.
type process struct {
	node string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // its exit status, valid once done is closed
	// killed marks an exit the runner caused, which is not worth a log line.
	killed atomic.Bool
}

// startProcess runs `binary run -config configPath` with stdout and stderr
// appended to logPath. logf hears about an exit the runner did not cause.
func startProcess(binary, configPath, logPath, node string, logf func(string, ...any)) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("procrun: %s: %w", node, err)
	}
	// The child gets its own copy of the descriptor, so ours can go as
	// soon as it has started.
	defer logFile.Close()
	cmd := exec.Command(binary, "run", "-config", configPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("procrun: start %s: %w", node, err)
	}
	p := &process{node: node, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		if !p.killed.Load() {
			logf("procrun: %s (pid %d) exited on its own: %v", node, cmd.Process.Pid, p.err)
		}
		close(p.done)
	}()
	return p, nil
}

// pid is the process's ID.
func (p *process) pid() int { return p.cmd.Process.Pid }

// running reports whether the process has not exited yet.
func (p *process) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL (which also ends a stopped process) and waits, bounded
// by ctx, until the process is reaped, so its ports are free on return.
func (p *process) kill(ctx context.Context) error {
	p.killed.Store(true)
	// ErrProcessDone: it exited on its own and is being reaped already.
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("procrun: kill %s (pid %d): %w", p.node, p.pid(), err)
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("procrun: %s (pid %d) not reaped after SIGKILL: %w", p.node, p.pid(), ctx.Err())
	}
}

// signal sends sig to a running process.
func (p *process) signal(sig os.Signal) error {
	if !p.running() {
		return fmt.Errorf("procrun: %s is not running", p.node)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("procrun: signal %v to %s (pid %d): %w", sig, p.node, p.pid(), err)
	}
	return nil
}
