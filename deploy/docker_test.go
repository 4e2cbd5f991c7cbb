package deploy

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

// formTimeout bounds how long three fresh containers take to find each
// other and elect a leader; it takes a few seconds when all is well.
const formTimeout = 60 * time.Second

// TestDockerCompose builds the image, starts the compose quick start and
// checks what the README promises: one cluster of three voters formed from
// -join node1 and -bootstrap-expect 3 alone (each agent advertising its
// container IP), node1's API on host loopback, and a write on one node read
// back on another.
func TestDockerCompose(t *testing.T) {
	compose := requireDocker(t)
	root := repoRoot(t)
	id := randomID(t)
	tag := "clusteragent/agent:test-" + id
	start := time.Now()

	buildImage(t, root, tag)
	checkImageUser(t, tag)
	t.Logf("image %s built in %s", tag, time.Since(start).Round(time.Millisecond))

	p := &project{
		compose: compose,
		file:    filepath.Join(root, "docker-compose.yml"),
		name:    "agenttest" + id,
		// Port 0: the engine picks a free host port, found below.
		env: append(os.Environ(), "AGENT_IMAGE="+tag, "AGENT_HTTP_PORT=0"),
	}
	p.up(t)
	t.Logf("project %s up after %s", p.name, time.Since(start).Round(time.Millisecond))

	testutil.WaitFor(t, formTimeout, func() error { return threeVoters(t, p) })
	t.Logf("3 voters and a leader after %s", time.Since(start).Round(time.Millisecond))

	checkMembers(t, p)
	checkLoopbackAPI(t, p)
	checkKV(t, p)
	t.Logf("all checks passed after %s", time.Since(start).Round(time.Millisecond))
}

// checkImageUser guards the non-root promise: an image that runs as root
// would still pass every cluster check.
func checkImageUser(t *testing.T, tag string) {
	t.Helper()
	out, err := run(t.Context(), probeTimeout, "", os.Environ(), "docker", "image", "inspect", "-f", "{{.Config.User}}", tag)
	if err != nil {
		t.Fatalf("inspecting image: %v", err)
	}
	if got := strings.TrimSpace(out); got != "65532:65532" {
		t.Fatalf("image user = %q, want 65532:65532", got)
	}
}

// raftConfig is the answer of agent raft peers -json.
type raftConfig struct {
	Servers []struct {
		ID       string `json:"id"`
		Address  string `json:"address"`
		Suffrage string `json:"suffrage"`
		Leader   bool   `json:"leader"`
	} `json:"servers"`
}

func threeVoters(t *testing.T, p *project) error {
	out, err := p.exec(t.Context(), "node1", "raft", "peers", "-json")
	if err != nil {
		return err
	}
	var conf raftConfig
	if err := json.Unmarshal([]byte(out), &conf); err != nil {
		return fmt.Errorf("raft peers -json: %w: %q", err, out)
	}
	voters, leaders := map[string]bool{}, 0
	for _, s := range conf.Servers {
		if s.Suffrage == "voter" {
			voters[s.ID] = true
		}
		if s.Leader {
			leaders++
		}
	}
	if len(voters) != 3 || !voters["node1"] || !voters["node2"] || !voters["node3"] || leaders != 1 {
		return fmt.Errorf("want voters node1..node3 and one leader, raft peers says %s", strings.TrimSpace(out))
	}
	return nil
}

// checkMembers shows that no -advertise is needed in a container: every
// agent advertised a distinct, routable address of its own.
func checkMembers(t *testing.T, p *project) {
	t.Helper()
	out, err := p.exec(t.Context(), "node3", "members", "-json")
	if err != nil {
		t.Fatalf("members: %v", err)
	}
	var members []struct {
		ID       string `json:"id"`
		Addr     string `json:"addr"`
		Status   string `json:"status"`
		RaftAddr string `json:"raft_addr"`
	}
	if err := json.Unmarshal([]byte(out), &members); err != nil {
		t.Fatalf("members -json: %v: %q", err, out)
	}
	if len(members) != 3 {
		t.Fatalf("want 3 members, got %s", out)
	}
	seen := map[string]bool{}
	for _, m := range members {
		host, _, err := net.SplitHostPort(m.Addr)
		ip := net.ParseIP(host)
		if err != nil || ip == nil || ip.IsLoopback() || ip.IsUnspecified() || seen[host] {
			t.Fatalf("member %s advertises %q: want a distinct container IP; members: %s", m.ID, m.Addr, out)
		}
		seen[host] = true
		if m.Status != "alive" || !strings.HasPrefix(m.RaftAddr, host+":") {
			t.Fatalf("member %s: status %q, raft address %q; members: %s", m.ID, m.Status, m.RaftAddr, out)
		}
	}
}

// checkLoopbackAPI reaches node1's API through the published port and
// checks the port is bound to the host's loopback interface only.
func checkLoopbackAPI(t *testing.T, p *project) {
	t.Helper()
	out, err := p.run(t.Context(), execTimeout, "port", "node1", "7070")
	if err != nil {
		t.Fatalf("published port: %v", err)
	}
	addr := strings.TrimSpace(out)
	if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" {
		t.Fatalf("node1's API is published on %q, want 127.0.0.1:PORT", addr)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	var status struct {
		NodeID    string `json:"node_id"`
		ClusterID string `json:"cluster_id"`
		LeaderID  string `json:"leader_id"`
	}
	testutil.WaitFor(t, 10*time.Second, func() error {
		resp, err := client.Get("http://" + addr + "/v1/status")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /v1/status: %s: %s", resp.Status, body)
		}
		if err := json.Unmarshal(body, &status); err != nil {
			return fmt.Errorf("GET /v1/status: %w: %q", err, body)
		}
		if status.NodeID != "node1" || status.ClusterID == "" || status.LeaderID == "" {
			return fmt.Errorf("GET /v1/status: want node1 in a cluster with a leader, got %s", body)
		}
		return nil
	})
}

// checkKV writes on node2 and reads on node3. At least one of them is a
// follower, so this goes through forwarding to the leader, and the read is
// linearizable, so it must see the acknowledged write.
func checkKV(t *testing.T, p *project) {
	t.Helper()
	testutil.WaitFor(t, 20*time.Second, func() error {
		_, err := p.exec(t.Context(), "node2", "kv", "put", "greeting", "hello")
		return err
	})
	testutil.WaitFor(t, 20*time.Second, func() error {
		out, err := p.exec(t.Context(), "node3", "kv", "get", "greeting")
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(out); got != "hello" {
			return fmt.Errorf("kv get greeting on node3 = %q, want %q", got, "hello")
		}
		return nil
	})
}
