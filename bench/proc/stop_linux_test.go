package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv selects what the test binary does when run as a child by the
// tests below: "term" exits 0 on SIGTERM, "ignore" ignores SIGTERM.
const childEnv = "PROC_TEST_STOP_CHILD"

// TestMain runs the child modes before any test.
func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		runChild(mode)
	}
	os.Exit(m.Run())
}

func runChild(mode string) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM)
	// The log line says the handler is in place and shows the environment.
	fmt.Printf("ready %s\n", os.Getenv("PROC_TEST_EXTRA"))
	for range c {
		if mode == "term" {
			os.Exit(0)
		}
	}
}

// startChild starts the test binary in mode and waits until it is ready.
func startChild(t *testing.T, mode string, spec Spec) *Process {
	t.Helper()
	spec.Name, spec.Binary = "child-"+mode, os.Args[0]
	spec.Env = append(spec.Env, childEnv+"="+mode)
	if spec.LogPath == "" {
		spec.LogPath = filepath.Join(t.TempDir(), "child.log")
	}
	p, err := StartSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = p.Kill(ctx)
	})
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(LogTail(p.LogPath(), 5), "ready") {
		select {
		case <-deadline:
			t.Fatalf("child not ready within 30s (running %v); log:\n%s", p.Running(), LogTail(p.LogPath(), 20))
		case <-p.Done():
			t.Fatalf("child exited before it was ready: %v; log:\n%s", p.Err(), LogTail(p.LogPath(), 20))
		case <-tick.C:
		}
	}
	return p
}

func TestStopGraceful(t *testing.T) {
	exits := make(chan bool, 1)
	p := startChild(t, "term", Spec{Env: []string{"PROC_TEST_EXTRA=xyz"}, OnExit: func(_ error, killed bool) { exits <- killed }})
	if !strings.Contains(LogTail(p.LogPath(), 5), "ready xyz") {
		t.Errorf("Env did not reach the child; log:\n%s", LogTail(p.LogPath(), 5))
	}
	if err := p.Stop(30 * time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if p.Running() || p.Killed() || p.Err() != nil {
		t.Errorf("after Stop: running %v, killed %v, err %v", p.Running(), p.Killed(), p.Err())
	}
	if killed := <-exits; killed {
		t.Error("OnExit heard killed for a SIGTERM exit")
	}
	if err := p.Stop(time.Second); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// A process that ignores SIGTERM is killed once the grace period is over,
// and Stop says so.
func TestStopKillsAfterGrace(t *testing.T) {
	p := startChild(t, "ignore", Spec{})
	began := time.Now()
	err := p.Stop(300 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("Stop = %v, want an error saying it was killed", err)
	}
	if p.Running() || !p.Killed() {
		t.Errorf("after Stop: running %v, killed %v", p.Running(), p.Killed())
	}
	if d := time.Since(began); d < 300*time.Millisecond {
		t.Errorf("killed after %s, before the grace period", d)
	}
}

func TestPauseResume(t *testing.T) {
	if !CanPause() {
		t.Skip("no SIGSTOP here")
	}
	p := startChild(t, "term", Spec{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if states, err := threadStates(p.Pid()); err == nil && !allStopped(states, true) {
		t.Errorf("after Pause: thread states %q", states)
	}
	if err := p.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if states, err := threadStates(p.Pid()); err == nil && !allStopped(states, false) {
		t.Errorf("after Resume: thread states %q", states)
	}
	if err := p.Stop(30 * time.Second); err != nil {
		t.Fatalf("Stop after Resume: %v", err)
	}
	if err := p.Pause(ctx); err == nil || errors.Is(err, ErrNoPause) {
		t.Errorf("Pause of an exited process = %v, want a not-running error", err)
	}
}

func TestTruncateLog(t *testing.T) {
	log := filepath.Join(t.TempDir(), "child.log")
	if err := os.WriteFile(log, []byte("old run\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startChild(t, "term", Spec{LogPath: log, TruncateLog: true})
	if err := p.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got := LogTail(log, 10); strings.Contains(got, "old run") {
		t.Errorf("TruncateLog kept the old log:\n%s", got)
	}
}

func TestAllStopped(t *testing.T) {
	for _, c := range []struct {
		states  string
		stopped bool
		want    bool
	}{
		{"TTT", true, true}, {"TST", true, false}, {"SSR", false, true}, {"SST", false, false}, {"", true, true},
	} {
		if got := allStopped([]byte(c.states), c.stopped); got != c.want {
			t.Errorf("allStopped(%q, %v) = %v", c.states, c.stopped, got)
		}
	}
}
