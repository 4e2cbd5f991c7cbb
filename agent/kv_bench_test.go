package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/api"
)

// BenchmarkKVPut measures PUT /v1/kv through the HTTP API of a three-server
// cluster on loopback with production timers, at 1, 16 and 64 concurrent
// keep-alive clients, 256-byte values. Each client writes its own keys on
// the leader. It reports throughput and p50/p99/max latency. Run with:
// make bench-kv.
func BenchmarkKVPut(b *testing.B) {
	nodes := startBenchCluster(b)
	leader := agenttest.Leader(nodes...)
	value := bytes.Repeat([]byte("v"), 256)
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			client := &http.Client{
				Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients},
				Timeout:   30 * time.Second,
			}
			defer client.CloseIdleConnections()
			kv, err := api.NewClient(api.Config{Address: leader.Agent.HTTPAddr(), HTTPClient: client})
			if err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			var failed atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						t0 := time.Now()
						if _, err := kv.KVPut(context.Background(), fmt.Sprintf("bench/c%d-%d", c, i), value, nil); err != nil {
							failed.Add(1)
						}
						lat[i] = time.Since(t0)
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d of %d writes failed", n, b.N)
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
			b.ReportMetric(ms(lat[len(lat)/2]), "p50_ms")
			b.ReportMetric(ms(lat[len(lat)*99/100]), "p99_ms")
			b.ReportMetric(ms(lat[len(lat)-1]), "max_ms")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// startBenchCluster starts three servers with production timers and waits
// for them to form.
func startBenchCluster(b *testing.B) []*agenttest.Node {
	b.Helper()
	nodes := make([]*agenttest.Node, 0, 3)
	first := lanConfig(b, "b1")
	first.BootstrapPreferred = true
	nodes = append(nodes, agenttest.Start(b, first))
	for _, id := range []string{"b2", "b3"} {
		cfg := lanConfig(b, id)
		cfg.Join = []string{nodes[0].GossipAddr()}
		nodes = append(nodes, agenttest.Start(b, cfg))
	}
	agenttest.WaitForConfig(b, time.Minute, nodes, ids(nodes...), nil)
	return nodes
}
