package proc

import (
	"os"
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

func FuzzParseStatCPU(f *testing.F) {
	f.Add("42 (agent) S 1 42 42 0 -1 4194560 100 0 0 0 150 50 0 0")
	f.Add(")")
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := parseStatCPU(s); err == nil && d < 0 {
			t.Fatalf("negative CPU time %s from %q", d, s)
		}
	})
}
