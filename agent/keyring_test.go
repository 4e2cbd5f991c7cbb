package agent_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/api"
	"github.com/clusteragent/agent/discovery"
	"github.com/clusteragent/agent/internal/testutil"
)

func newGossipKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// rotationWriter keeps writing rot/N through the HTTP API of the nodes in turn and
// records every write the API acknowledged.
type rotationWriter struct {
	nodes []*agenttest.Node
	apis  []*api.Client // one per node
	stop  chan struct{}
	done  chan struct{}

	mu     sync.Mutex
	acked  []int
	failed []string
}

func startRotationWriter(t *testing.T, nodes []*agenttest.Node) *rotationWriter {
	w := &rotationWriter{nodes: nodes, stop: make(chan struct{}), done: make(chan struct{})}
	for _, n := range nodes {
		w.apis = append(w.apis, nodeAPI(t, n, 10*time.Second))
	}
	go w.run()
	t.Cleanup(w.halt)
	return w
}

func (w *rotationWriter) run() {
	defer close(w.done)
	for i := 0; ; i++ {
		select {
		case <-w.stop:
			return
		default:
		}
		err := w.put(i%len(w.nodes), i)
		w.mu.Lock()
		if err != nil {
			w.failed = append(w.failed, err.Error())
		} else {
			w.acked = append(w.acked, i)
		}
		w.mu.Unlock()
	}
}

func (w *rotationWriter) put(node, i int) error {
	if _, err := w.apis[node].KVPut(context.Background(), fmt.Sprintf("rot/%d", i), fmt.Appendf(nil, "v%d", i), nil); err != nil {
		return fmt.Errorf("put rot/%d via %s: %w", i, w.nodes[node].ID, err)
	}
	return nil
}

func (w *rotationWriter) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

func (w *rotationWriter) ackedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// waitProgress waits until the writer has had more writes acknowledged.
func (w *rotationWriter) waitProgress(t *testing.T, more int) {
	t.Helper()
	want := w.ackedCount() + more
	testutil.WaitFor(t, formTimeout, func() error {
		if got := w.ackedCount(); got < want {
			w.mu.Lock()
			defer w.mu.Unlock()
			return fmt.Errorf("%d writes acknowledged, want %d; recent failures %v", got, want, w.failed[max(0, len(w.failed)-3):])
		}
		return nil
	})
}

// keyringCall runs a keyring operation through n's HTTP API.
func keyringCall(t *testing.T, n *agenttest.Node, op, key string) api.KeyringResponse {
	t.Helper()
	c := nodeAPI(t, n, 20*time.Second)
	var resp api.KeyringResponse
	var err error
	switch op {
	case api.KeyringList:
		resp, err = c.KeyringList(t.Context())
	case api.KeyringInstall:
		resp, err = c.KeyringInstall(t.Context(), key)
	case api.KeyringUse:
		resp, err = c.KeyringUse(t.Context(), key)
	case api.KeyringRemove:
		resp, err = c.KeyringRemove(t.Context(), key)
	default:
		t.Fatalf("keyring operation %q", op)
	}
	if err != nil {
		t.Fatalf("keyring %s via %s: %v", op, n.ID, err)
	}
	return resp
}

// waitGossipClusterID waits until every node sees every other one alive in
// gossip with the cluster ID: keyring requests are accepted only then.
func waitGossipClusterID(t *testing.T, nodes []*agenttest.Node, id string) {
	t.Helper()
	testutil.WaitFor(t, formTimeout, func() error {
		for _, n := range nodes {
			for _, other := range nodes {
				m, ok := n.Agent.Gossip().Member(other.ID)
				if !ok || m.Status != discovery.StatusAlive || m.Meta.ClusterID != id {
					return fmt.Errorf("%s sees %s as %+v (found %t), want alive in cluster %s", n.ID, other.ID, m, ok, id)
				}
			}
		}
		return nil
	})
}

// sees returns nil when n sees every id alive in gossip.
func sees(n *agenttest.Node, ids ...string) error {
	for _, id := range ids {
		if m, ok := n.Agent.Gossip().Member(id); !ok || m.Status != discovery.StatusAlive {
			return fmt.Errorf("%s does not see %s alive (%+v)", n.ID, id, m)
		}
	}
	return nil
}

func TestGossipKeyRotationUnderWrites(t *testing.T) {
	oldKey, newKey := newGossipKey(t), newGossipKey(t)
	nodes := startExpectCluster(t, 3, func(c *agent.Config) { c.Gossip.Encrypt = oldKey })
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	waitGossipClusterID(t, nodes, sameClusterID(t, nodes))

	w := startRotationWriter(t, nodes)
	w.waitProgress(t, 10)
	// Each step through another node, with writes acknowledged in between.
	steps := []struct{ op, key string }{{"install", newKey}, {"use", newKey}, {"remove", oldKey}}
	for i, s := range steps {
		resp := keyringCall(t, nodes[i], s.op, s.key)
		if resp.NumNodes != 3 || resp.Fingerprint != discovery.KeyFingerprint(s.key) {
			t.Fatalf("%s answered %+v", s.op, resp)
		}
		w.waitProgress(t, 10)
	}
	w.halt()

	// No acknowledged write was lost.
	w.mu.Lock()
	acked := slices.Clone(w.acked)
	w.mu.Unlock()
	readers := make([]*api.Client, len(nodes))
	for k, n := range nodes {
		readers[k] = nodeAPI(t, n, 20*time.Second)
	}
	for _, i := range acked {
		e, _, err := readers[(i+1)%3].KVGet(t.Context(), fmt.Sprintf("rot/%d", i), nil)
		if err != nil || string(e.Value) != fmt.Sprintf("v%d", i) {
			t.Fatalf("acknowledged write rot/%d: %q, %v", i, e.Value, err)
		}
	}
	t.Logf("%d writes acknowledged during the rotation, %d failed", len(acked), len(w.failed))

	list := keyringCall(t, nodes[2], api.KeyringList, "")
	if len(list.Keys) != 1 || list.Keys[0].Key != newKey || list.Keys[0].Members != 3 || len(list.Keys[0].PrimaryOn) != 3 {
		t.Fatalf("keyring after rotation: %+v", list)
	}

	// A restarted member keeps the rotated key, although its config still
	// names the old one.
	nodes[2].Restart()
	testutil.WaitFor(t, formTimeout, func() error {
		if err := sees(nodes[0], nodes[2].ID); err != nil {
			return err
		}
		return sees(nodes[2], nodes[0].ID, nodes[1].ID)
	})

	// A new agent that knows only the old key never gets in; one with the
	// new key does.
	stale := joinNode(t, "n4", nodes[0].GossipAddr(), func(c *agent.Config) { c.Gossip.Encrypt = oldKey })
	fresh := joinNode(t, "n5", nodes[1].GossipAddr(), func(c *agent.Config) { c.Gossip.Encrypt = newKey })
	testutil.WaitFor(t, formTimeout, func() error {
		for _, n := range nodes {
			if err := sees(n, fresh.ID); err != nil {
				return err
			}
		}
		return sees(fresh, ids(nodes...)...)
	})
	testutil.Never(t, 3*time.Second, func() error {
		for _, n := range append(slices.Clone(nodes), fresh) {
			if _, ok := n.Agent.Gossip().Member(stale.ID); ok {
				return fmt.Errorf("%s sees %s, which only has the removed key", n.ID, stale.ID)
			}
		}
		if got := stale.Agent.Gossip().Members(); len(got) != 1 {
			return fmt.Errorf("%s sees %d members", stale.ID, len(got))
		}
		return nil
	})
}
