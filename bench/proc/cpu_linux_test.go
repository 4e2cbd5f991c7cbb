package proc

import (
	"os"
	"syscall"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	cases := map[string]struct {
		in   string
		want time.Duration
		bad  bool
	}{
		"plain":        {in: "42 (agent) S 1 42 42 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 9 0 1 1 1", want: 2 * time.Second},
		"name, spaces": {in: "42 (my (odd) agent) R 1 42 42 0 -1 0 0 0 0 0 7 3 0 0", want: 100 * time.Millisecond},
		"short":        {in: "42 (agent) S 1 2 3", bad: true},
		"no name":      {in: "42 agent S", bad: true},
		"negative":     {in: "42 (agent) S 1 42 42 0 -1 0 0 0 0 0 -1 3 0 0", bad: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := parseStatCPU(c.in)
			if (err != nil) != c.bad || got != c.want {
				t.Errorf("parseStatCPU = %s, %v; want %s, error %t", got, err, c.want, c.bad)
			}
		})
	}
}

func TestCPUTimeOfThisProcess(t *testing.T) {
	if _, err := CPUTime(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}

// rusageCPU is this process's user and system time, from getrusage.
func rusageCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestCPUTimePrecise: burning 30 ms of CPU (as getrusage counts it; wall
// time on a loaded machine says nothing) in this process moves its CPU
// clock by at least that much, and a pid that names no process is an error.
func TestCPUTimePrecise(t *testing.T) {
	before, err := CPUTimePrecise(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for start := rusageCPU(t); rusageCPU(t)-start < 30*time.Millisecond; {
	}
	after, err := CPUTimePrecise(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := after - before; d < 30*time.Millisecond {
		t.Errorf("CPU clock moved %s over a 30 ms busy loop, want at least 30 ms", d)
	}
	if _, err := CPUTimePrecise(0); err == nil {
		t.Error("CPUTimePrecise(0) succeeded")
	}
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add("42 (agent) S 1 42 42 0 -1 4194560 100 0 0 0 150 50 0 0")
	f.Add(")")
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := parseStatCPU(s); err == nil && d < 0 {
			t.Fatalf("negative CPU time %s from %q", d, s)
		}
	})
}
