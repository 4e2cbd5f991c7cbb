package etcdwrap

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/bench/load"
)

// fakeDriver writes a shell script that speaks the driver's protocol: a
// line when "etcd" is up, then one line a round for every line read, and
// on the end of its input a file saying it ended cleanly. With failRound
// it exits without answering that round; 0 answers every round.
func fakeDriver(t *testing.T, failRound int) (Binaries, string) {
	t.Helper()
	dir := t.TempDir()
	done := filepath.Join(dir, "done")
	script := `#!/bin/sh
echo '{"system":"etcd","version":"v0","results":null,"memory":{"idle_rss_bytes":7,"load_rss_bytes":0,"load_clients":64}}'
n=0
while read -r line; do
	n=$((n+1))
	if [ "$n" = "` + strconv.Itoa(failRound) + `" ]; then echo "round $n failed" >&2; exit 3; fi
	echo '{"system":"etcd","results":[{"name":"put","clients":64,"ops":10,"errors":0,"seconds":1,"ops_per_sec":'$n'00,"mean_ms":1,"p50_ms":1,"p99_ms":2,"max_ms":3}],"memory":{"idle_rss_bytes":7,"load_rss_bytes":'$n'0,"load_clients":64}}'
done
touch "` + done + `"
`
	path := filepath.Join(dir, "driver")
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return Binaries{Driver: path, Etcd: "etcd", Version: "v0"}, done
}

var testPlan = load.Plan{Clients: []int{64}, Warmup: time.Millisecond, Duration: time.Millisecond, ValueSize: 8}

func TestClusterRoundsThenClose(t *testing.T) {
	b, done := fakeDriver(t, 0)
	c, err := Start(t.Context(), b, t.TempDir(), testPlan)
	if err != nil {
		t.Fatal(err)
	}
	if c.Idle.System != "etcd" || c.Idle.Memory.IdleRSSBytes != 7 || len(c.Idle.Results) != 0 {
		t.Errorf("ready line %+v", c.Idle)
	}
	for round := 1; round <= 3; round++ {
		side, err := c.Round()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(side.Results) != 1 || side.Results[0].OpsPerSec != float64(100*round) || side.Memory.LoadRSSBytes != uint64(10*round) {
			t.Errorf("round %d: %+v", round, side)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(done); err != nil {
		t.Errorf("the driver did not see the end of its input: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.Round(); err == nil {
		t.Error("round after Close succeeded")
	}
}

func TestClusterDriverFailing(t *testing.T) {
	b, _ := fakeDriver(t, 2)
	c, err := Start(t.Context(), b, t.TempDir(), testPlan)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Round(); err != nil {
		t.Fatalf("round 1: %v", err)
	}
	if _, err := c.Round(); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("round 2 of a driver that exits: %v, want its exit status", err)
	}
	// Round 2 reported the failure; the deferred Close of a caller must
	// not report it again.
	if err := c.Close(); err != nil {
		t.Errorf("Close after the failed round: %v", err)
	}
}

func TestStartDriverMissing(t *testing.T) {
	b := Binaries{Driver: filepath.Join(t.TempDir(), "nope")}
	if _, err := Start(t.Context(), b, t.TempDir(), testPlan); err == nil {
		t.Error("Start of a missing driver succeeded")
	}
}
