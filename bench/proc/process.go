package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Process is one started benchmark process.
type Process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited and been reaped
	err     error         // its exit status, valid once done is closed
	killed  atomic.Bool
}

// Start runs binary with args, stdout and stderr appended to logPath. The
// process gets its own process group (a Ctrl-C reaches the harness, which
// then kills it, rather than the process shutting down on its own) and,
// on Linux, is SIGKILLed by the kernel should the harness die without
// cleaning up.
func Start(name, binary string, args []string, logPath string) (*Process, error) {
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("proc: %s: %w", name, err)
	}
	// The child has its own copy of the descriptor once started.
	defer logFile.Close()
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("proc: start %s: %w", name, err)
	}
	p := &Process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Name is the name the process was started with.
func (p *Process) Name() string { return p.name }

// Pid is the process's ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Running reports whether the process has not exited yet.
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Exited describes how a process that is no longer running ended, with the
// tail of its log, for error messages.
func (p *Process) Exited() error {
	if p.Running() {
		return nil
	}
	return fmt.Errorf("proc: %s (pid %d) exited: %v\n%s", p.name, p.Pid(), p.err, LogTail(p.logPath, 20))
}

// Killed reports whether the harness has sent the process SIGKILL, so an
// exit is one it asked for.
func (p *Process) Killed() bool { return p.killed.Load() }

// Signal sends SIGKILL without waiting, so many processes can be killed at
// once and reaped after. Signalling an exited process is a no-op.
func (p *Process) Signal() {
	p.killed.Store(true)
	_ = p.cmd.Process.Kill()
}

// Kill sends SIGKILL and waits, bounded by ctx, until the process is
// reaped, so its ports are free on return. Killing an exited process is a
// no-op.
func (p *Process) Kill(ctx context.Context) error {
	p.killed.Store(true)
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("proc: kill %s (pid %d): %w", p.name, p.Pid(), err)
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("proc: %s (pid %d) not reaped after SIGKILL: %w", p.name, p.Pid(), ctx.Err())
	}
}

// LogTail is the last n lines of the file at path, or a note why it could
// not be read.
func LogTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Terminate sends SIGTERM and waits, bounded by ctx, until the process is
// reaped; it returns how long the process took to exit. A process that
// was already gone returns at once.
func (p *Process) Terminate(ctx context.Context) (time.Duration, error) {
	began := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return 0, fmt.Errorf("proc: SIGTERM %s (pid %d): %w", p.name, p.Pid(), err)
	}
	select {
	case <-p.done:
		return time.Since(began), nil
	case <-ctx.Done():
		return time.Since(began), fmt.Errorf("proc: %s (pid %d) still running after SIGTERM: %w", p.name, p.Pid(), ctx.Err())
	}
}
