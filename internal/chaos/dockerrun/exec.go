package dockerrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// Bounds for the external commands: none of them may hang a chaos run.
const (
	probeTimeout   = 15 * time.Second
	goBuildTimeout = 4 * time.Minute // a cold module cache on a small machine
	imageTimeout   = 2 * time.Minute
	dockerTimeout  = 30 * time.Second // run, start, kill, pause, network changes
	removeTimeout  = time.Minute      // rm -f waits for the kill and the volume
	logsTimeout    = time.Minute
)

// stderrCap bounds how much of a command's stderr an error carries.
const stderrCap = 4 << 10

// command is one external command and where its output goes.
type command struct {
	dir  string
	env  []string // nil: the current environment
	name string
	args []string
	// out, when set, receives stdout and stderr both (docker logs), and
	// run returns no stdout.
	out io.Writer
}

// run runs c bounded by timeout and returns its stdout. The error names the
// command and carries its stderr, so a failure explains itself.
func (c command) run(ctx context.Context, timeout time.Duration) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, c.name, c.args...)
	cmd.Dir = c.dir
	cmd.Env = c.env
	// After a kill, do not wait for grandchildren holding the pipes open.
	cmd.WaitDelay = 5 * time.Second
	var stdout bytes.Buffer
	stderr := &capped{max: stderrCap}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if c.out != nil {
		cmd.Stdout, cmd.Stderr = c.out, io.MultiWriter(c.out, stderr)
	}
	err := cmd.Run()
	switch {
	case ctx.Err() != nil:
		err = fmt.Errorf("cancelled: %w", ctx.Err())
	case cctx.Err() != nil:
		err = fmt.Errorf("timed out after %s: %w", timeout, cctx.Err())
	}
	if err != nil {
		return stdout.String(), &cmdError{cmd: c.String(), err: err, stderr: strings.TrimSpace(stderr.String())}
	}
	return stdout.String(), nil
}

func (c command) String() string {
	return strings.Join(append([]string{c.name}, c.args...), " ")
}

// docker runs the docker CLI with args, bounded by timeout.
func docker(ctx context.Context, timeout time.Duration, args ...string) (string, error) {
	return command{name: "docker", args: args}.run(ctx, timeout)
}

// cmdError is a failed command: what ran, how it failed, what it said.
type cmdError struct {
	cmd    string
	err    error
	stderr string
}

func (e *cmdError) Error() string {
	if e.stderr == "" {
		return fmt.Sprintf("%s: %v", e.cmd, e.err)
	}
	return fmt.Sprintf("%s: %v: %s", e.cmd, e.err, e.stderr)
}

func (e *cmdError) Unwrap() error { return e.err }

// saidAny reports whether err is a failed command whose stderr contains one
// of the phrases, case-insensitively: how the docker CLI tells "no such
// container" from a real failure.
func saidAny(err error, phrases ...string) bool {
	var ce *cmdError
	if !errors.As(err, &ce) {
		return false
	}
	s := strings.ToLower(ce.stderr)
	for _, p := range phrases {
		if strings.Contains(s, strings.ToLower(p)) {
			return true
		}
	}
	return false
}

// capped keeps the first max bytes written to it and drops the rest, so a
// chatty command cannot grow an error message without bound.
type capped struct {
	buf bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capped) String() string { return c.buf.String() }
