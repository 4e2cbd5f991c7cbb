package agent_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/internal/testutil"
)

type httpResult struct {
	code   int
	header http.Header
	body   []byte
}

func httpDo(t *testing.T, method, url, body string) httpResult {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpResult{code: resp.StatusCode, header: resp.Header, body: b}
}

func kvURL(n *agenttest.Node, key, query string) string {
	u := "http://" + n.Agent.HTTPAddr() + "/v1/kv/" + key
	if query != "" {
		u += "?" + query
	}
	return u
}

func TestKVWriteOnFollowerIsReadLinearizablyEverywhere(t *testing.T) {
	nodes := startExpectCluster(t, 3, nil)
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	for i := 0; i < 20; i++ {
		writer := nodes[i%3]
		val := fmt.Sprintf("v%d", i)
		res := httpDo(t, "PUT", kvURL(writer, "k", ""), val)
		var w httpapi.KVWrite
		if res.code != 200 || json.Unmarshal(res.body, &w) != nil || !w.OK {
			t.Fatalf("put via %s: %d %s", writer.ID, res.code, res.body)
		}
		// At once, from every node, the default (linearizable) read sees it.
		for _, reader := range nodes {
			res := httpDo(t, "GET", kvURL(reader, "k", ""), "")
			var e httpapi.KVEntry
			if res.code != 200 || json.Unmarshal(res.body, &e) != nil {
				t.Fatalf("get via %s: %d %s", reader.ID, res.code, res.body)
			}
			if string(e.Value) != val || e.ModifyIndex != w.Index {
				t.Fatalf("read via %s after write %d via %s: %q at %d, want %q at %d", reader.ID, i, writer.ID, e.Value, e.ModifyIndex, val, w.Index)
			}
		}
	}
}

func TestKVStaleReadOnLeaderlessFollowerAndBounded503(t *testing.T) {
	nodes := startExpectCluster(t, 3, nil)
	agenttest.WaitForConfig(t, formTimeout, nodes, ids(nodes...), nil)
	if res := httpDo(t, "PUT", kvURL(nodes[0], "k", ""), "old"); res.code != 200 {
		t.Fatalf("put: %d %s", res.code, res.body)
	}
	// Cut the last node off: the other two are gone, so it has no leader
	// and no quorum.
	last := nodes[2]
	testutil.WaitFor(t, formTimeout, func() error {
		res := httpDo(t, "GET", kvURL(last, "k", "stale"), "")
		if res.code != 200 {
			return fmt.Errorf("stale read: %d %s", res.code, res.body)
		}
		return nil
	})
	nodes[0].Kill()
	nodes[1].Kill()
	testutil.WaitFor(t, formTimeout, func() error {
		if id := last.Raft().LeaderID(); id != "" {
			return fmt.Errorf("%s still follows %s", last.ID, id)
		}
		return nil
	})
	// A stale read is still served from the local copy, and says so.
	res := httpDo(t, "GET", kvURL(last, "k", "stale"), "")
	var e httpapi.KVEntry
	if res.code != 200 || json.Unmarshal(res.body, &e) != nil || string(e.Value) != "old" {
		t.Fatalf("stale read without leader: %d %s", res.code, res.body)
	}
	if res.header.Get(httpapi.HeaderStale) != "true" || res.header.Get(httpapi.HeaderKnownLeader) != "false" {
		t.Errorf("stale read not marked: %v", res.header)
	}
	// Writes and linearizable reads answer 503 within the bounded wait.
	wait := last.Config.HTTP.LeaderWait
	for _, c := range []struct{ method, query string }{{"PUT", ""}, {"GET", ""}, {"DELETE", ""}} {
		start := time.Now()
		res := httpDo(t, c.method, kvURL(last, "k", c.query), "new")
		elapsed := time.Since(start)
		if res.code != http.StatusServiceUnavailable || !strings.Contains(string(res.body), "error") {
			t.Errorf("%s without leader: %d %s", c.method, res.code, res.body)
		}
		if elapsed > wait+5*time.Second {
			t.Errorf("%s without leader took %s; bound is about %s", c.method, elapsed, wait)
		}
	}
}

func TestKVBadInputOverHTTP(t *testing.T) {
	n := agenttest.Start(t, preferredConfig(t, "solo"))
	agenttest.WaitForConfig(t, formTimeout, []*agenttest.Node{n}, []string{"solo"}, nil)
	long := strings.Repeat("k", 513)
	cases := []struct {
		method, url, body string
		code              int
	}{
		{"PUT", kvURL(n, long, ""), "v", 400},
		{"PUT", kvURL(n, "a//b", ""), "v", 400},
		{"PUT", kvURL(n, "a/./b", ""), "v", 400},
		{"PUT", kvURL(n, "k", "cas=x"), "v", 400},
		{"PUT", kvURL(n, "big", ""), strings.Repeat("x", 512<<10+1), 413},
		{"GET", kvURL(n, "missing", ""), "", 404},
		{"POST", kvURL(n, "k", ""), "v", 405},
	}
	for _, c := range cases {
		res := httpDo(t, c.method, c.url, c.body)
		var eb httpapi.ErrorBody
		if res.code != c.code || json.Unmarshal(res.body, &eb) != nil || eb.Error == "" {
			t.Errorf("%s %.60s: %d %.200s, want %d with a JSON error", c.method, c.url, res.code, res.body, c.code)
		}
	}
	// A value at the limit is accepted.
	if res := httpDo(t, "PUT", kvURL(n, "edge", ""), strings.Repeat("x", 512<<10)); res.code != 200 {
		t.Errorf("value of exactly 512 KiB: %d %.200s", res.code, res.body)
	}
}

func preferredConfig(t *testing.T, id string) agent.Config {
	cfg := agenttest.Config(t, id)
	cfg.BootstrapPreferred = true
	return cfg
}
