package agent_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/agent/httpapi"
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
	nodes  []*agenttest.Node
	client *http.Client
	stop   chan struct{}
	done   chan struct{}

	mu     sync.Mutex
	acked  []int
	failed []string
}

func startRotationWriter(t *testing.T, nodes []*agenttest.Node) *rotationWriter {
	w := &rotationWriter{nodes: nodes, client: &http.Client{Timeout: 10 * time.Second},
		stop: make(chan struct{}), done: make(chan struct{})}
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
		err := w.put(w.nodes[i%len(w.nodes)], i)
		w.mu.Lock()
		if err != nil {
			w.failed = append(w.failed, err.Error())
		} else {
			w.acked = append(w.acked, i)
		}
		w.mu.Unlock()
	}
}

func (w *rotationWriter) put(n *agenttest.Node, i int) error {
	req, err := http.NewRequest("PUT", kvURL(n, fmt.Sprintf("rot/%d", i), ""), strings.NewReader(fmt.Sprintf("v%d", i)))
	if err != nil {
		return err
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var res httpapi.KVWrite
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &res) != nil || !res.OK {
		return fmt.Errorf("put rot/%d via %s: %d %s", i, n.ID, resp.StatusCode, body)
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
func keyringCall(t *testing.T, n *agenttest.Node, op, key string) httpapi.KeyringResponse {
	t.Helper()
	var res httpResult
	if op == httpapi.KeyringList {
		res = httpDo(t, "GET", "http://"+n.Agent.HTTPAddr()+"/v1/agent/keyring", "")
	} else {
		body, _ := json.Marshal(httpapi.KeyringRequest{Key: key})
		res = httpDo(t, "POST", "http://"+n.Agent.HTTPAddr()+"/v1/agent/keyring/"+op, string(body))
	}
	var resp httpapi.KeyringResponse
	if res.code != http.StatusOK || json.Unmarshal(res.body, &resp) != nil {
		t.Fatalf("keyring %s via %s: %d %s", op, n.ID, res.code, res.body)
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
	for _, i := range acked {
		res := httpDo(t, "GET", kvURL(nodes[(i+1)%3], fmt.Sprintf("rot/%d", i), ""), "")
		var e httpapi.KVEntry
		if res.code != http.StatusOK || json.Unmarshal(res.body, &e) != nil || string(e.Value) != fmt.Sprintf("v%d", i) {
			t.Fatalf("acknowledged write rot/%d: %d %s", i, res.code, res.body)
		}
	}
	t.Logf("%d writes acknowledged during the rotation, %d failed", len(acked), len(w.failed))

	list := keyringCall(t, nodes[2], httpapi.KeyringList, "")
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
