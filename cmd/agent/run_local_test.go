package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

// lockedBuffer is a bytes.Buffer the script's output goroutine and the test
// may use at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMakeRunStopsOnOneCtrlC runs scripts/run-local.sh (make run) in a
// process group of its own and sends SIGINT to the whole group, as a
// terminal does on Ctrl-C: all three agents must stop gracefully (exit 0,
// a leader handing off), none may see a second signal, and no log may hold
// an ERROR line.
func TestMakeRunStopsOnOneCtrlC(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the script is for Linux and bash")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	bin := agentBinary(t)
	// The script takes its ports from a base: raft BASE.., http BASE+70..,
	// gossip BASE+946..; a free port with free neighbours at those offsets.
	base := 0
	testutil.WaitFor(t, 10*time.Second, func() error {
		p := testutil.FreePorts(t, 1)[0]
		if p+948 > 65535 {
			return errNoRoom
		}
		base = p
		return nil
	})
	dir := t.TempDir()
	cmd := exec.Command("bash", filepath.Join("..", "..", "scripts", "run-local.sh"))
	cmd.Env = append(cmd.Environ(), "BIN="+bin, "BASE_PORT="+strconv.Itoa(base), "RUN_DIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited closes once the script has exited, with waitErr set.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	testutil.WaitFor(t, 90*time.Second, func() error {
		select {
		case <-exited:
			t.Fatalf("the script exited early (%v):\n%s", waitErr, out.String())
		default:
		}
		if !strings.Contains(out.String(), "Ctrl-C stops all three.") {
			return errNotFormed
		}
		return nil
	})
	if want := "export AGENT_HTTP_ADDR=127.0.0.1:" + strconv.Itoa(base+70); !strings.Contains(out.String(), want) {
		t.Errorf("the script does not print %q:\n%s", want, out.String())
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		// 130 is how a shell script says it stopped on SIGINT.
		if ee := (*exec.ExitError)(nil); waitErr != nil && (!errors.As(waitErr, &ee) || ee.ExitCode() != 130) {
			t.Errorf("the script exited with %v:\n%s", waitErr, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the script did not stop within 60s:\n%s", out.String())
	}
	for i := 1; i <= 3; i++ {
		log := filepath.Join(dir, "node"+strconv.Itoa(i)+".log")
		if lines := errorLines(t, log); len(lines) > 0 {
			t.Errorf("node%d logged ERROR:\n%s", i, strings.Join(lines, "\n"))
		}
		if lines := grepFile(t, log, "second signal"); len(lines) > 0 {
			t.Errorf("node%d got a second signal:\n%s", i, strings.Join(lines, "\n"))
		}
		if len(grepFile(t, log, "agent stopped")) == 0 {
			t.Errorf("node%d did not finish a graceful shutdown", i)
		}
	}
}

var (
	errNoRoom    = errors.New("the port is too high for the script's offsets")
	errNotFormed = errors.New("the script has not reported the cluster formed yet")
)

// grepFile returns the lines of the file at path that contain s.
func grepFile(t *testing.T, path, s string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}
