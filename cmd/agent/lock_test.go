package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

func TestLockStopTimes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := map[string]struct {
		ttl          time.Duration
		term, killIn time.Duration
	}{
		"1s: 100ms margins":  {time.Second, 800 * time.Millisecond, 900 * time.Millisecond},
		"15s: ttl/10":        {15 * time.Second, 12 * time.Second, 13500 * time.Millisecond},
		"1m: capped at 2s":   {time.Minute, 56 * time.Second, 58 * time.Second},
		"2s: floor not used": {2 * time.Second, 1600 * time.Millisecond, 1800 * time.Millisecond},
	}
	for name, tc := range tests {
		term, kill := lockStopTimes(t0, tc.ttl)
		if term.Sub(t0) != tc.term || kill.Sub(t0) != tc.killIn || !kill.Before(t0.Add(tc.ttl)) {
			t.Errorf("%s: term +%s kill +%s, want +%s +%s", name, term.Sub(t0), kill.Sub(t0), tc.term, tc.killIn)
		}
	}
}

// lockCmd builds `agent lock` against addr running a shell script.
func lockCmd(t *testing.T, addr, dir, ttl, name, script string) *exec.Cmd {
	cmd := exec.Command(agentBinary(t), "lock", "-ttl", ttl, "-http-addr", addr, name, "--", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "D="+dir, "AGENT_HTTP_ADDR=", "AGENT_HTTP_TOKEN=")
	return cmd
}

// TestBinaryLockContendersNeverOverlap runs two contenders on different
// agents, three rounds each; the critical section is a mkdir that fails
// (exit 3) if the other holder is inside.
func TestBinaryLockContendersNeverOverlap(t *testing.T) {
	c := newCrashCluster(t, "wal")
	c.waitLeader(0, 1, 2)
	dir := t.TempDir()
	script := `mkdir "$D/held" || exit 3; echo "$AGENT_LOCK_INDEX" >> "$D/tokens"; sleep 0.3; rmdir "$D/held"`
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 3 {
				out, err := lockCmd(t, c.http(i), dir, "2s", "job", script).CombinedOutput()
				if err != nil {
					errs <- fmt.Errorf("contender %d round %d: %v\n%s", i, round, err, out)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	tokens, _ := os.ReadFile(filepath.Join(dir, "tokens"))
	if n := len(strings.Fields(string(tokens))); n != 6 {
		t.Fatalf("%d critical sections ran, want 6: %q", n, tokens)
	}
	cmd := lockCmd(t, c.http(2), dir, "2s", "job", "exit 7")
	var ee *exec.ExitError
	if err := cmd.Run(); !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("exit status not passed on: %v", err)
	}
}

// TestBinaryLockFrozenHolder freezes a holder (SIGSTOP on the lock
// process; its COMMAND keeps running, which no lock process can prevent)
// past its TTL: the other contender gets the lock only after the frozen
// holder's TTL from its last renew, and when the frozen one resumes it
// kills its COMMAND at once and exits 1.
func TestBinaryLockFrozenHolder(t *testing.T) {
	c := newCrashCluster(t, "wal")
	c.waitLeader(0, 1, 2)
	dir := t.TempDir()
	a := lockCmd(t, c.http(0), dir, "2s", "frozen", `echo $$ > "$D/a.pid"; exec sleep 120`)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	aDone := make(chan error, 1)
	go func() { aDone <- a.Wait() }()
	t.Cleanup(func() { _ = a.Process.Signal(syscall.SIGCONT); _ = a.Process.Kill() })
	var child int
	testutil.WaitFor(t, crashTimeout, func() error {
		b, err := os.ReadFile(filepath.Join(dir, "a.pid"))
		if err == nil {
			child, err = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		return err
	})
	frozen := time.Now() // no renew is sent after this
	if err := a.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	out, err := lockCmd(t, c.http(1), dir, "2s", "frozen", `touch "$D/b"`).CombinedOutput()
	if err != nil {
		t.Fatalf("second contender: %v\n%s", err, out)
	}
	if got := time.Since(frozen); got < 2*time.Second {
		t.Fatalf("the second contender got the lock %s after the holder froze, within its 2s TTL", got)
	}
	resumed := time.Now()
	if err := a.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-aDone:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("the resumed holder exited with %v, want status 1", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the resumed holder did not exit")
	}
	if err := syscall.Kill(child, 0); err == nil {
		t.Fatalf("the frozen holder's COMMAND (pid %d) still runs", child)
	}
	t.Logf("resumed holder stopped its COMMAND and exited %s after SIGCONT", time.Since(resumed))
}
