package dockerrun

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/clusteragent/agent/api"
	"github.com/clusteragent/agent/internal/testutil"
)

// Bounds the Kubernetes manifests and issue figures promise.
const (
	// allMovedBound: a leader after every server came back at a new address.
	allMovedBound = 30 * time.Second
	// oneMovedBound: a server moved alone is a voter at its new address again
	// and serves reads.
	oneMovedBound = 5 * time.Second
)

// TestDockerStatefulSet checks, with containers, what deploy/kubernetes
// relies on: agents that join through one DNS name (a network alias, as a
// headless service with publishNotReadyAddresses: it answers with every
// container, ready or not, and only those that run) and advertise their
// interface's address; readiness while a new server joins; scale up (a new
// server joins and is promoted); scale down with leave_on_terminate false
// as the manifests set it (the stopped server stays a voter until it is
// reaped); every server back at a new IP with its data volume (a leader,
// every key, the new addresses); and one server moving while the others run.
func TestDockerStatefulSet(t *testing.T) {
	requireDocker(t)
	start := time.Now()
	step := func(format string, args ...any) {
		t.Logf("[%6.1fs] %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	c, err := Start(t.Context(), Options{
		Logf: t.Logf, SeedName: "agents", MaxVoters: 5, MinQuorum: 3,
		DeadServerReapAfter: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	t.Cleanup(func() { dumpLogsOnFailure(t, c) })
	step("3 servers formed through the name %q", "agents")
	cl := &client{t: t, c: c, http: &http.Client{Timeout: 3 * time.Second}}
	servers := c.Nodes()
	checkAdvertised(t, cl, c, servers)

	keys := map[string]string{}
	for i := range 10 {
		k, v := "sts/"+strconv.Itoa(i), "v"+strconv.Itoa(i)
		cl.put(servers[i%3], k, v)
		keys[k] = v
	}

	added := scaleUp(t, cl, c)
	step("scale up: %s joined, not ready until promoted, then ready", added)
	scaleDown(t, cl, c, added, servers)
	step("scale down: %s stopped, a failed voter until reaped, then gone", added)

	leader := moveAll(t, cl, c, servers, keys, step)

	moved := servers[0]
	if moved == leader {
		moved = servers[1]
	}
	took := moveOne(t, cl, c, moved, servers)
	step("%s moved alone: a voter at its new address, serving reads, %s after its start", moved, took.Round(time.Millisecond))
	if took > oneMovedBound {
		t.Errorf("%s took %s to be a voter at its new address and serve reads, want under %s", moved, took, oneMovedBound)
	}
	checkKeysOn(t, cl, []string{moved}, keys)
}

// moveAll stops every server, moves them all to new addresses with their
// data volumes, starts the first alone (live, not ready) and then the
// rest, and checks a leader comes within allMovedBound, every key reads
// back, the configuration has the new addresses and all are ready. It
// returns the leader.
func moveAll(t *testing.T, cl *client, c *Cluster, servers []string, keys map[string]string, step func(string, ...any)) string {
	t.Helper()
	for _, n := range servers {
		if err := c.Stop(t.Context(), n); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Move(t.Context(), servers...); err != nil {
		t.Fatal(err)
	}
	aloneNotReady(t, cl, c, servers[0])
	step("%s back alone at a new IP: the seed name finds only itself; live, not ready", servers[0])
	began := time.Now()
	for _, n := range servers[1:] {
		if err := c.Restart(t.Context(), n); err != nil {
			t.Fatal(err)
		}
	}
	leader := cl.agreedLeader(servers)
	elected := time.Since(began)
	step("all servers at new IPs: %s leads %s after the others' start", leader, elected.Round(time.Millisecond))
	if elected > allMovedBound {
		t.Errorf("a leader took %s after every server moved, want under %s", elected, allMovedBound)
	}
	checkKeysOn(t, cl, servers, keys)
	testutil.WaitFor(t, catchUpTimeout, func() error { return votersAtAddrs(cl, c, leader, servers) })
	for _, n := range servers {
		testutil.WaitFor(t, catchUpTimeout, func() error { return cl.ready(n) })
	}
	step("every key reads back on every server; raft peers shows the new addresses; all ready")
	return leader
}

// scaleUp adds a server and checks readiness along the way: it answers
// live but not ready while it is not yet the voter it will be, and once
// ready, it is a voter in the leader's configuration.
func scaleUp(t *testing.T, cl *client, c *Cluster) string {
	t.Helper()
	added, err := c.AddNode(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sawNotReady := false
	testutil.WaitFor(t, joinTimeout, func() error {
		err := cl.api(added).Ready(t.Context())
		if errors.Is(err, api.ErrUnavailable) {
			if cl.api(added).Live(t.Context()) == nil {
				sawNotReady = true
			}
			return fmt.Errorf("%s not ready yet: %w", added, err)
		}
		if err != nil {
			return fmt.Errorf("%s: /v1/health/ready: %w", added, err)
		}
		return nil
	})
	if !sawNotReady {
		t.Errorf("%s was never live and not ready: ready before it could have been promoted", added)
	}
	// Promotion is never undone here, so a voter now was one when it said ready.
	all := c.Nodes()
	if err := cl.suffrages(cl.agreedLeader(all), all, nil); err != nil {
		t.Errorf("%s ready but not a voter: %v", added, err)
	}
	return added
}

// scaleDown stops gone with SIGTERM, as the StatefulSet does with
// leave_on_terminate false: right afterwards it is still a voter (a failed
// one, the cluster unhealthy), and it is removed once dead for
// dead_server_reap_after, leaving the others.
func scaleDown(t *testing.T, cl *client, c *Cluster, gone string, rest []string) {
	t.Helper()
	if err := c.Stop(t.Context(), gone); err != nil {
		t.Fatal(err)
	}
	leader := cl.agreedLeader(rest)
	if err := cl.suffrages(leader, append(append([]string{}, rest...), gone), nil); err != nil {
		t.Errorf("right after the scale down: %v", err)
	}
	testutil.WaitFor(t, catchUpTimeout, func() error {
		a, err := c.api(leader)
		if err != nil {
			return err
		}
		h, err := a.AutopilotHealth(t.Context())
		if err != nil {
			return err
		}
		if h.Healthy {
			return fmt.Errorf("autopilot healthy with %s stopped", gone)
		}
		return nil
	})
	testutil.WaitFor(t, joinTimeout, func() error { return cl.suffrages(leader, rest, nil) })
}

// aloneNotReady starts node while the other servers are still stopped: the
// seed name resolves to it alone (Docker's DNS drops stopped containers,
// as a headless service's DNS lags behind new pods), and it can elect no
// leader with one vote of three, so it must answer live and not ready.
// The others, started next, find it through the same name.
func aloneNotReady(t *testing.T, cl *client, c *Cluster, node string) {
	t.Helper()
	if err := c.Restart(t.Context(), node); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, catchUpTimeout, func() error {
		if err := cl.api(node).Live(t.Context()); err != nil {
			return fmt.Errorf("%s not live yet: %w", node, err)
		}
		return nil
	})
	if err := cl.api(node).Ready(t.Context()); !errors.Is(err, api.ErrUnavailable) {
		t.Errorf("%s alone, with no leader possible: /v1/health/ready answered %v, want 503", node, err)
	}
}

// moveOne stops node, moves it and starts it while the others run, and
// returns how long after its start it was a voter at its new address in
// the leader's configuration, answered a linearizable read and was ready
// (what a StatefulSet's rolling update waits for before the next pod).
func moveOne(t *testing.T, cl *client, c *Cluster, node string, servers []string) time.Duration {
	t.Helper()
	cl.put(node, "moving", node)
	if err := c.Stop(t.Context(), node); err != nil {
		t.Fatal(err)
	}
	if err := c.Move(t.Context(), node); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(t.Context(), node); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	testutil.WaitFor(t, joinTimeout, func() error {
		leader, err := cl.tryStatus(servers[2])
		if err != nil || leader.LeaderID == "" {
			return fmt.Errorf("no leader known to %s: %v", servers[2], err)
		}
		if err := votersAtAddrs(cl, c, leader.LeaderID, servers); err != nil {
			return err
		}
		if _, _, err := cl.api(node).KVGet(t.Context(), "moving", nil); err != nil {
			return fmt.Errorf("GET moving on %s: %w", node, err)
		}
		return cl.ready(node)
	})
	return time.Since(began)
}

// votersAtAddrs checks on node that the Raft configuration is exactly
// servers, all voters, each at its current container address.
func votersAtAddrs(cl *client, c *Cluster, node string, servers []string) error {
	if err := cl.suffrages(node, servers, nil); err != nil {
		return err
	}
	a, err := c.api(node)
	if err != nil {
		return err
	}
	conf, err := a.RaftConfiguration(cl.t.Context())
	if err != nil {
		return err
	}
	for _, s := range conf.Servers {
		ip, err := c.Addr(s.ID)
		if err != nil {
			return err
		}
		if want := netip.AddrPortFrom(ip, raftPort).String(); s.Address != want {
			return fmt.Errorf("%s: %s at %s in the Raft configuration, want %s", node, s.ID, s.Address, want)
		}
	}
	return nil
}

// checkAdvertised checks that every agent advertises its container's
// address, though no config file names it.
func checkAdvertised(t *testing.T, cl *client, c *Cluster, servers []string) {
	t.Helper()
	testutil.WaitFor(t, catchUpTimeout, func() error { return votersAtAddrs(cl, c, servers[0], servers) })
}

func checkKeysOn(t *testing.T, cl *client, nodes []string, keys map[string]string) {
	t.Helper()
	for _, n := range nodes {
		for k, v := range keys {
			if got := cl.get(n, k); got != v {
				t.Errorf("GET %s on %s = %q, want %q", k, n, got, v)
			}
		}
	}
}

// ready reports nil once node's /v1/health/ready answers 200.
func (cl *client) ready(node string) error {
	if err := cl.api(node).Ready(cl.t.Context()); err != nil {
		return fmt.Errorf("%s: /v1/health/ready: %w", node, err)
	}
	return nil
}
