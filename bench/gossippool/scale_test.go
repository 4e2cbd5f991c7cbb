package gossippool

import (
	"context"
	"os"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/clusteragent/agent/discovery"
)

// TestMeasureScale times one pool of $GOSSIPPOOL_N members (skipped unless
// set), all joining at once or in waves of $GOSSIPPOOL_WAVE, writing a CPU profile to $GOSSIPPOOL_PROFILE when set. It is how the
// figures in bench/README.md were taken; it loads every core for as long
// as it runs, so it never runs by default.
func TestMeasureScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("GOSSIPPOOL_N"))
	if n == 0 {
		t.Skip("set GOSSIPPOOL_N to the pool size")
	}
	if path := os.Getenv("GOSSIPPOOL_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithTimeout(context.Background(), RestSettle(n)+time.Duration(max(60, n/5))*time.Second)
	defer cancel()
	began := time.Now()
	var tune func(*discovery.Config)
	if m, _ := strconv.Atoi(os.Getenv("GOSSIPPOOL_SUSPICION_MULT")); m > 0 {
		tune = func(c *discovery.Config) { c.SuspicionMult = m }
	}
	wave, _ := strconv.Atoi(os.Getenv("GOSSIPPOOL_WAVE"))
	if wave == 0 {
		wave = n
	}
	res, err := MeasureWaves(ctx, n, wave, "lan", tune)
	t.Logf("%d members: %+v (returned %s after start)", n, res, time.Since(began).Round(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
}
