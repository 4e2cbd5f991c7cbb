package gossippool

import (
	"strings"
	"sync"
	"sync/atomic"

	metrics "github.com/hashicorp/go-metrics"
)

// counters tally what every member of the pool does: memberlist reports
// its traffic and the messages it handles to go-metrics' global sink, and
// the pool's members log failures and refutations to one shared writer.
type counters struct {
	udpPackets, udpBytes atomic.Int64
	suspectMsgs          atomic.Int64
	deadMsgs             atomic.Int64
	// failed counts "member failed" lines by the ID they name, refuted the
	// refutations: a member that hears it is suspect or dead, while alive.
	mu      sync.Mutex
	failed  map[string]int
	refuted int
}

func newCounters() *counters { return &counters{failed: make(map[string]int)} }

// Write takes one log line of any member (hclog writes whole lines).
func (c *counters) Write(p []byte) (int, error) {
	line := string(p)
	switch {
	case strings.Contains(line, "member failed"):
		id := field(line, "member=")
		c.mu.Lock()
		c.failed[id]++
		c.mu.Unlock()
	case strings.Contains(line, "Refuting a"):
		c.mu.Lock()
		c.refuted++
		c.mu.Unlock()
	}
	return len(p), nil
}

// field returns the value of key in an hclog line ("key=value ...").
func field(line, key string) string {
	i := strings.Index(line, key)
	if i < 0 {
		return ""
	}
	v := line[i+len(key):]
	if j := strings.IndexAny(v, " \n"); j >= 0 {
		v = v[:j]
	}
	return v
}

// deathsOf returns how many members declared someone other than victim
// dead ("" counts all), and how many refutations were made.
func (c *counters) deathsOf(victim string) (deaths, refutes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, n := range c.failed {
		if id != victim {
			deaths += n
		}
	}
	return deaths, c.refuted
}

// sink is the go-metrics sink that feeds counters; it keeps nothing else.
type sink struct {
	*metrics.BlackholeSink
	c *counters
}

func (s sink) IncrCounterWithLabels(key []string, val float32, _ []metrics.Label) {
	s.IncrCounter(key, val)
}

func (s sink) IncrCounter(key []string, val float32) {
	if len(key) < 3 || key[0] != "memberlist" {
		return
	}
	switch key[1] + "." + key[2] {
	case "udp.sent":
		s.c.udpPackets.Add(1)
		s.c.udpBytes.Add(int64(val))
	case "msg.suspect":
		s.c.suspectMsgs.Add(1)
	case "msg.dead":
		s.c.deadMsgs.Add(1)
	}
}

// installSink routes memberlist's metrics (a process-wide sink) to c.
func installSink(c *counters) {
	// No service name: it would be prepended to every key.
	cfg := metrics.DefaultConfig("")
	cfg.EnableHostname, cfg.EnableRuntimeMetrics, cfg.EnableServiceLabel = false, false, false
	_, _ = metrics.NewGlobal(cfg, sink{BlackholeSink: &metrics.BlackholeSink{}, c: c})
}

// uninstallSink puts the default (discarding) sink back.
func uninstallSink() {
	_, _ = metrics.NewGlobal(metrics.DefaultConfig("pool"), &metrics.BlackholeSink{})
}
