package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/buildagent"
)

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBenchStopsOnSIGINT runs the bench on three agent processes and an
// in-process gossip pool, sends it SIGINT while the pool joins, and checks
// that it exits within two seconds, prints what it had measured, and
// leaves no agent process and no temp dir behind.
func TestBenchStopsOnSIGINT(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent and the bench and runs agent processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	agent, bench := buildagent.For(t, buildagent.Options{}), filepath.Join(dir, "agentbench")
	t.Cleanup(func() { _ = buildagent.Cleanup() })
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bench, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bench, "-binary", agent, "-out", filepath.Join(dir, "out"), "-reference-fsyncs", "0",
		"-apply=false", "-membership=false", "-gossip", "", "-gossip-inproc", "300",
		"-clients", "1", "-duration", "500ms", "-warmup", "0s")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()
	waitForLog(t, ctx, &stderr, exited, "in-process discovery members joining")
	signalled := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("the bench had not exited 10s after SIGINT\n%s", stderr.String())
	}
	took := time.Since(signalled)
	t.Logf("exited %s after SIGINT", took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("the bench exited %s after SIGINT, want within 2s", took.Round(time.Millisecond))
	}
	if !strings.Contains(stdout.String(), "interrupted: partial results") || !strings.Contains(stdout.String(), "put") {
		t.Errorf("the bench did not print its partial results:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	checkNothingLeft(t, tmp)
}

// waitForLog polls the bench's log for want, failing if it exits first.
func waitForLog(t *testing.T, ctx context.Context, log *syncBuffer, exited <-chan error, want string) {
	t.Helper()
	for !strings.Contains(log.String(), want) {
		select {
		case err := <-exited:
			t.Fatalf("the bench exited (%v) before logging %q:\n%s", err, want, log.String())
		case <-ctx.Done():
			t.Fatalf("no %q in the bench's log:\n%s", want, log.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkNothingLeft fails if a process still runs from under tmp (the
// agents run from the bench's temp dir there) or tmp is not empty.
func checkNothingLeft(t *testing.T, tmp string) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(tmp)) {
			t.Errorf("a process outlived the bench: %s: %s", p, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("the bench left %s in its temp dir", e.Name())
	}
}
