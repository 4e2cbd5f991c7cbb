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

// Process is one started process.
type Process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited and been reaped
	err     error         // its exit status, valid once done is closed
	killed  atomic.Bool
}

// Spec is what StartSpec runs.
type Spec struct {
	// Name names the process in errors. Binary and Args are what runs.
	Name   string
	Binary string
	Args   []string
	// Env, when set, is added to the harness's environment (KEY=VALUE).
	Env []string
	// LogPath receives stdout and stderr, appended to, or from the start
	// with TruncateLog.
	LogPath     string
	TruncateLog bool
	// OnExit, when set, hears of the exit before Done is closed; killed
	// says whether the harness had sent SIGKILL, so the exit was asked for.
	OnExit func(err error, killed bool)
}

// Start runs binary with args, stdout and stderr appended to logPath; see
// StartSpec.
func Start(name, binary string, args []string, logPath string) (*Process, error) {
	return StartSpec(Spec{Name: name, Binary: binary, Args: args, LogPath: logPath})
}

// StartSpec runs s.Binary. The process gets its own process group (a
// Ctrl-C reaches the harness, which then kills it, rather than the process
// shutting down on its own) and, on Linux, is SIGKILLed by the kernel
// should the harness die without cleaning up.
func StartSpec(s Spec) (*Process, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if s.TruncateLog {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	logFile, err := os.OpenFile(s.LogPath, flags, 0o600)
	if err != nil {
		return nil, fmt.Errorf("proc: %s: %w", s.Name, err)
	}
	// The child has its own copy of the descriptor once started.
	defer logFile.Close()
	cmd := exec.Command(s.Binary, s.Args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if len(s.Env) > 0 {
		cmd.Env = append(os.Environ(), s.Env...)
	}
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("proc: start %s: %w", s.Name, err)
	}
	p := &Process{name: s.Name, logPath: s.LogPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		if s.OnExit != nil {
			s.OnExit(p.err, p.killed.Load())
		}
		close(p.done)
	}()
	return p, nil
}

// Done is closed once the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit status once Done is closed; nil before.
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// LogPath is the file the process logs to.
func (p *Process) LogPath() string { return p.logPath }

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

// Send sends sig to a running process.
func (p *Process) Send(sig os.Signal) error {
	if !p.Running() {
		return fmt.Errorf("proc: %s (pid %d) is not running", p.name, p.Pid())
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("proc: signal %v to %s (pid %d): %w", sig, p.name, p.Pid(), err)
	}
	return nil
}

// Stop ends the process gracefully: SIGTERM, then, if it has not exited
// within grace, SIGKILL. It returns the exit status of a process that
// ended on SIGTERM, or an error saying it had to be killed; a process the
// harness killed before returns nil, and one that had exited on its own
// its exit status.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		if p.Killed() {
			return nil
		}
		return p.err
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	_, err := p.Terminate(ctx)
	if err == nil {
		if p.err != nil {
			return fmt.Errorf("proc: %s exit after SIGTERM: %w", p.name, p.err)
		}
		return nil
	}
	// SIGKILL cannot be caught: only a process stuck in the kernel
	// outlasts this bound.
	kctx, kcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer kcancel()
	return errors.Join(fmt.Errorf("proc: %s (pid %d) did not exit within %s of SIGTERM; killed", p.name, p.Pid(), grace), p.Kill(kctx))
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
