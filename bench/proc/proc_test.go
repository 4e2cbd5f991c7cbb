package proc

import (
	"context"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFreePortsAreFreeDistinctAndAvoidTaken(t *testing.T) {
	first, err := FreePorts(4, nil)
	if err != nil {
		t.Fatal(err)
	}
	taken := map[int]bool{}
	for _, p := range first {
		if taken[p] {
			t.Fatalf("port %d handed out twice in %v", p, first)
		}
		taken[p] = true
	}
	second, err := FreePorts(4, taken)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range second {
		if taken[p] {
			t.Errorf("port %d of taken handed out again", p)
		}
		l, err := net.Listen("tcp", HostPort(p))
		if err != nil {
			t.Errorf("port %d not free: %v", p, err)
			continue
		}
		l.Close()
	}
}

func TestRSSOfThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	rss, err := RSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 || rss > 1<<34 {
		t.Errorf("RSS = %d bytes; want between 1 MiB and 16 GiB", rss)
	}
	stop := PeakRSS(os.Getpid(), time.Millisecond)
	if peak := stop(); peak < 1<<20 {
		t.Errorf("peak RSS = %d", peak)
	}
	if _, err := RSS(-1); err == nil {
		t.Error("RSS of pid -1 succeeded")
	}
	anon, err := RSSAnon(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Read after RssAnon: the test's memory only grows meanwhile.
	if rss, err = RSS(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if anon == 0 || anon > rss {
		t.Errorf("RssAnon = %d, want in (0, VmRSS %d]", anon, rss)
	}
}

func TestParseVmRSSRejectsGarbage(t *testing.T) {
	for _, c := range []struct {
		text string
		want uint64
		ok   bool
	}{
		{"Name:\tx\nVmRSS:\t  2048 kB\nVmData: 1 kB\n", 2048 * 1024, true},
		{"Name:\tx\n", 0, false},
		{"VmRSS:\t12 MB\n", 0, false},
	} {
		path := filepath.Join(t.TempDir(), "status")
		if err := os.WriteFile(path, []byte(c.text), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseVmRSS(f)
		f.Close()
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseVmRSS(%q) = %d, %v; want %d, ok %v", c.text, got, err, c.want, c.ok)
		}
	}
}

// TestStartAndKill runs this test binary as a child that blocks, then
// kills it.
func TestStartAndKill(t *testing.T) {
	if os.Getenv("PROC_TEST_CHILD") == "1" {
		// Wait for a signal that never comes, until the parent's SIGKILL.
		// (A bare select{} could be reported as a deadlock.)
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGUSR1)
		<-c
		os.Exit(3)
	}
	t.Setenv("PROC_TEST_CHILD", "1")
	log := filepath.Join(t.TempDir(), "child.log")
	p, err := Start("child", os.Args[0], []string{"-test.run=^TestStartAndKill$"}, log)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Running() || p.Exited() != nil || p.Killed() || p.Name() != "child" || p.Pid() <= 0 {
		t.Fatalf("fresh child: running %v, exited %v", p.Running(), p.Exited())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if p.Running() || !p.Killed() {
		t.Fatalf("after Kill: running %v, killed %v", p.Running(), p.Killed())
	}
	if err := p.Exited(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Exited() = %v, want a note that it was killed", err)
	}
	if err := p.Kill(ctx); err != nil {
		t.Errorf("second Kill: %v", err)
	}
}

func TestLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("a\nb\nc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := LogTail(path, 2); got != "b\nc" {
		t.Errorf("LogTail = %q", got)
	}
	if got := LogTail(filepath.Join(path, "missing"), 2); !strings.Contains(got, "no log") {
		t.Errorf("LogTail of missing file = %q", got)
	}
}
