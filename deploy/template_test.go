package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

// requireEngine skips the test unless a Docker engine answers.
func requireEngine(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("docker test skipped in -short mode")
	}
	if _, err := run(t.Context(), probeTimeout, "", os.Environ(), "docker", "version", "--format", "{{.Server.Version}}"); err != nil {
		t.Skipf("docker engine not available: %v", err)
	}
}

// docker runs the docker CLI with a bound.
func docker(ctx context.Context, timeout time.Duration, args ...string) (string, error) {
	return run(ctx, timeout, "", os.Environ(), "docker", args...)
}

// TestDockerImageAddressTemplates runs the scratch image on a network the test
// creates, binding through a go-sockaddr template on eth0 and advertising
// the default-route interface's address. The image has no `ip` binary, so
// the default route must come from /proc/net/route; the agent must start,
// elect itself and advertise the container's own IP for gossip and Raft.
func TestDockerImageAddressTemplates(t *testing.T) {
	requireEngine(t)
	id := randomID(t)
	tag := "clusteragent/agent:test-" + id
	buildImage(t, repoRoot(t), tag)
	network, name := "agenttest-net-"+id, "agenttest-tmpl-"+id
	label := "io.clusteragent.test=" + id

	if _, err := docker(t.Context(), execTimeout, "network", "create", "--label", label, network); err != nil {
		t.Fatalf("creating network: %v", err)
	}
	t.Cleanup(func() {
		if _, err := docker(context.Background(), execTimeout, "network", "rm", network); err != nil {
			t.Errorf("removing network %s: %v", network, err)
		}
	})
	startTemplateContainer(t, tag, network, name, label)

	ip := containerIP(t, name, network)
	testutil.WaitFor(t, formTimeout, func() error { return selfAdvertised(t, name, ip) })
}

// startTemplateContainer starts the agent and registers its removal, with
// its anonymous /data volume (-v), after the logs if the test failed.
func startTemplateContainer(t *testing.T, tag, network, name, label string) {
	t.Helper()
	t.Cleanup(func() {
		ctx := context.Background()
		if t.Failed() {
			logs, err := docker(ctx, execTimeout, "logs", "--tail", "100", name)
			t.Logf("container logs (error: %v):\n%s", err, logs)
		}
		if _, err := docker(ctx, downTimeout, "rm", "-f", "-v", name); err != nil && !strings.Contains(err.Error(), "No such container") {
			t.Errorf("removing container %s: %v", name, err)
		}
	})
	_, err := docker(t.Context(), upTimeout, "run", "-d", "--name", name, "--network", network, "--label", label, tag,
		"run", "-node-id", "tmpl", "-data-dir", "/data", "-http-addr", "0.0.0.0:7070",
		"-bind", `{{ GetInterfaceIP "eth0" }}`,
		"-advertise", `{{ GetDefaultInterfaces | include "type" "IPv4" | attr "address" }}`,
		"-bootstrap-preferred")
	if err != nil {
		t.Fatalf("starting the container: %v", err)
	}
}

// containerIP is the container's address on network, as the engine gave it.
func containerIP(t *testing.T, name, network string) string {
	t.Helper()
	out, err := docker(t.Context(), execTimeout, "inspect", "-f",
		fmt.Sprintf(`{{ (index .NetworkSettings.Networks %q).IPAddress }}`, network), name)
	if err != nil {
		t.Fatalf("inspecting %s: %v", name, err)
	}
	ip := strings.TrimSpace(out)
	if net.ParseIP(ip) == nil {
		t.Fatalf("container %s has address %q on %s", name, ip, network)
	}
	return ip
}

// selfAdvertised checks, through the CLI inside the container, that the
// agent leads a one-server cluster and advertises ip for gossip and Raft.
func selfAdvertised(t *testing.T, name, ip string) error {
	out, err := docker(t.Context(), execTimeout, "exec", name, "/agent", "members", "-json")
	if err != nil {
		return err
	}
	var members []struct {
		ID       string `json:"id"`
		Addr     string `json:"addr"`
		Status   string `json:"status"`
		RaftAddr string `json:"raft_addr"`
	}
	if err := json.Unmarshal([]byte(out), &members); err != nil {
		return fmt.Errorf("members -json: %w: %q", err, out)
	}
	if len(members) != 1 || members[0].ID != "tmpl" || members[0].Status != "alive" {
		return fmt.Errorf("want the one member tmpl alive, got %s", out)
	}
	m := members[0]
	if m.Addr != net.JoinHostPort(ip, "7946") || m.RaftAddr != net.JoinHostPort(ip, "7000") {
		return fmt.Errorf("tmpl advertises gossip %s and raft %s, want the container IP %s", m.Addr, m.RaftAddr, ip)
	}
	if _, err := docker(t.Context(), execTimeout, "exec", name, "/agent", "kv", "put", "k", "v"); err != nil {
		return fmt.Errorf("no leader yet: %w", err)
	}
	return nil
}
