package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/internal/testutil"
)

// syncBuffer is a bytes.Buffer the agent's log goroutines and the test can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var httpAddrInLog = regexp.MustCompile(`agent running: http_addr=(127\.0\.0\.1:\d+)`)

// startDevAgent runs `agent run -dev` in-process on kernel-picked loopback
// ports, with extra flags appended, and returns its HTTP address, the data
// dir, the signal channel and the exit code channel.
func startDevAgent(t *testing.T, extra ...string) (addr, dataDir string, sigCh chan<- os.Signal, exit <-chan int, logs *syncBuffer) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real agent")
	}
	logs = &syncBuffer{}
	c := newCLI(strings.NewReader(""), &syncBuffer{}, logs)
	c.getenv = func(string) string { return "" }
	dirs := make(chan string, 1)
	c.newAgent = func(cfg agent.Config, l hclog.Logger) (runningAgent, error) {
		dirs <- cfg.DataDir
		return newAgent(cfg, l, c.quiet)
	}
	sigs := make(chan chan<- os.Signal, 1)
	c.notify = func(ch chan<- os.Signal) func() { sigs <- ch; return func() {} }
	done := make(chan int, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		done <- c.dispatch(append([]string{"run", "-dev", "-gossip-port", "0", "-raft-port", "0", "-http-addr", "127.0.0.1:0"}, extra...))
	}()
	select {
	case sigCh = <-sigs:
	case code := <-done:
		t.Fatalf("agent run -dev exited %d:\n%s", code, logs)
	}
	dataDir = <-dirs
	t.Cleanup(func() {
		select {
		case <-finished:
			return
		default:
		}
		sigCh <- syscall.SIGTERM
		select {
		case <-finished:
		case <-time.After(30 * time.Second):
			t.Errorf("agent run did not stop on SIGTERM:\n%s", logs)
		}
	})
	testutil.WaitFor(t, 20*time.Second, func() error {
		m := httpAddrInLog.FindStringSubmatch(logs.String())
		if m == nil {
			return fmt.Errorf("no 'agent running' line in the log yet:\n%s", logs)
		}
		addr = m[1]
		return nil
	})
	return addr, dataDir, sigCh, done, logs
}

func waitLeader(t *testing.T, addr string) {
	t.Helper()
	testutil.WaitFor(t, 20*time.Second, func() error {
		c := newTestCLI(t)
		code, out, errOut := c.run("raft", "peers", "-http-addr", addr)
		if code != 0 || !strings.Contains(out, "*") {
			return fmt.Errorf("raft peers: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		return nil
	})
}

func TestDevAgentEndToEnd(t *testing.T) {
	addr, dataDir, sigCh, exit, logs := startDevAgent(t)
	waitLeader(t, addr)
	c := newTestCLI(t)
	code, out, errOut := c.run("members", "-http-addr", addr)
	if code != 0 || !strings.Contains(out, "dev ") || !strings.Contains(out, "alive") {
		t.Errorf("members: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Autopilot answers 503 until its first pass after the election.
	testutil.WaitFor(t, 20*time.Second, func() error {
		code, out, errOut := c.run("autopilot", "state", "-http-addr", addr)
		if code != 0 || !strings.Contains(out, "Leader:             dev") {
			return fmt.Errorf("autopilot state: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		return nil
	})
	sigCh <- syscall.SIGTERM
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit %d after SIGTERM, want 0:\n%s", code, logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("agent did not stop after SIGTERM:\n%s", logs)
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dev data dir %s not removed: %v", dataDir, err)
	}
}

func TestDevAgentLeaveExits(t *testing.T) {
	addr, _, _, exit, logs := startDevAgent(t)
	waitLeader(t, addr)
	c := newTestCLI(t)
	if code, _, errOut := c.run("leave", "-http-addr", addr); code != 0 {
		t.Fatalf("leave: exit %d, stderr %q", code, errOut)
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit %d after leave, want 0:\n%s", code, logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("agent did not exit after leave:\n%s", logs)
	}
}

// stopDevAgent sends SIGTERM and checks the agent exits 0 in time.
func stopDevAgent(t *testing.T, sigCh chan<- os.Signal, exit <-chan int, logs *syncBuffer) {
	t.Helper()
	sigCh <- syscall.SIGTERM
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit %d after SIGTERM:\n%s", code, logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("agent did not stop:\n%s", logs)
	}
}
