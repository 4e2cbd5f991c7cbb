package chaos

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/clusteragent/agent/api"
)

// nodeStatus is GET /v1/status, in the API's own type.
type nodeStatus = api.Status

// observer samples every node's status through the client API while a run
// goes on, to catch two leaders in one term, and answers the nemesis's
// questions about who leads now.
type observer struct {
	cluster Cluster
	hc      *http.Client
	// clientsMu guards clients, each node's API client over hc.
	clientsMu sync.Mutex
	clients   apiClients

	mu      sync.Mutex
	leaders map[uint64]map[string]bool // term -> nodes that reported leading in it
	samples int
}

func newObserver(c Cluster) *observer {
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	return &observer{
		cluster: c,
		hc:      hc,
		clients: apiClients{hc: hc, byURL: map[string]*api.Client{}},
		leaders: map[uint64]map[string]bool{},
	}
}

// run samples each node every interval until ctx ends. Each node has its own
// goroutine, so a paused or partitioned node delays nobody else's samples.
func (o *observer) run(ctx context.Context, nodes func() []string, interval time.Duration) {
	var wg sync.WaitGroup
	started := map[string]bool{}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		for _, n := range nodes() {
			if started[n] {
				continue
			}
			started[n] = true
			wg.Add(1)
			go func(node string) {
				defer wg.Done()
				o.sampleLoop(ctx, node, interval)
			}(n)
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			o.hc.CloseIdleConnections()
			return
		case <-tick.C:
		}
	}
}

func (o *observer) sampleLoop(ctx context.Context, node string, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if st, err := o.status(ctx, node); err == nil {
			o.record(node, st)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// record notes a sample. A node answering "leader" in term T claims that
// Raft elected it in T; two different claimants for one term is split brain.
func (o *observer) record(node string, st nodeStatus) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.samples++
	if st.State != "leader" {
		return
	}
	if o.leaders[st.Term] == nil {
		o.leaders[st.Term] = map[string]bool{}
	}
	o.leaders[st.Term][node] = true
}

// client is node's API client.
func (o *observer) client(node string) (*api.Client, error) {
	o.clientsMu.Lock()
	defer o.clientsMu.Unlock()
	return o.clients.get(o.cluster.URL(node))
}

// status asks node for its status.
func (o *observer) status(ctx context.Context, node string) (nodeStatus, error) {
	c, err := o.client(node)
	if err != nil {
		return nodeStatus{}, err
	}
	return c.Status(ctx)
}

// leader polls every node in nodes now and returns the leader with the
// highest term, or an error naming what each node said.
func (o *observer) leader(ctx context.Context, nodes []string) (string, error) {
	var best nodeStatus
	var seen []string
	for _, n := range nodes {
		st, err := o.status(ctx, n)
		if err != nil {
			seen = append(seen, fmt.Sprintf("%s: %v", n, err))
			continue
		}
		o.record(n, st)
		seen = append(seen, fmt.Sprintf("%s: %s term %d", n, st.State, st.Term))
		if st.State == "leader" && st.Term >= best.Term {
			best = st
		}
	}
	if best.NodeID == "" {
		return "", fmt.Errorf("no leader: %s", strings.Join(seen, "; "))
	}
	return best.NodeID, nil
}

// waitLeader polls until a leader answers or timeout passes.
func (o *observer) waitLeader(ctx context.Context, nodes []string, timeout time.Duration) (string, error) {
	var leader string
	err := waitCond(ctx, timeout, func(c context.Context) error {
		var err error
		leader, err = o.leader(c, nodes)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("after %s: %w", timeout, err)
	}
	return leader, nil
}

// splitBrains lists every term in which more than one node said it led.
func (o *observer) splitBrains() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for term, set := range o.leaders {
		if len(set) > 1 {
			var ids []string
			for id := range set {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			out = append(out, fmt.Sprintf("term %d has leaders %s", term, strings.Join(ids, ", ")))
		}
	}
	sort.Strings(out)
	return out
}

// sampleCount is how many status samples were taken.
func (o *observer) sampleCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.samples
}
