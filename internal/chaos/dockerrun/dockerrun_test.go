package dockerrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/api"
	"github.com/clusteragent/agent/internal/chaos"
	"github.com/clusteragent/agent/internal/testutil"
)

// Bounds for the cluster's reactions under production Raft and gossip timers.
const (
	electTimeout   = 30 * time.Second
	catchUpTimeout = 45 * time.Second
	joinTimeout    = 60 * time.Second
)

// requireDocker skips the test unless a Docker engine answers.
func requireDocker(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("Docker chaos runner test skipped in -short mode")
	}
	if _, err := docker(t.Context(), probeTimeout, "version", "--format", "{{.Server.Version}}"); err != nil {
		t.Skipf("Docker engine not available (docker version does not answer): %v", err)
	}
}

// TestDockerCluster drives every fault the runner supports on a real
// three-server cluster, checks the cluster's reaction to each, and checks
// that Close leaves no container, network, volume or image behind.
func TestDockerCluster(t *testing.T) {
	requireDocker(t)
	start := time.Now()
	step := func(format string, args ...any) {
		t.Logf("[%6.1fs] %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}

	image, removeImage, err := BuildImage(t.Context(), BuildOptions{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checkImageRemoved(t, image, removeImage) })
	step("image %s built", image)

	closeLogs := t.TempDir()
	c, err := Start(t.Context(), Options{Image: image, Logf: t.Logf, LogDir: closeLogs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	t.Cleanup(func() { dumpLogsOnFailure(t, c) })
	step("cluster formed")
	checkSurface(t, c)

	cl := &client{t: t, c: c, http: &http.Client{Timeout: 3 * time.Second}}
	leader := cl.agreedLeader(c.Nodes())
	followers := without(c.Nodes(), leader)
	cl.put(followers[0], "greeting", "hello")
	if got := cl.get(followers[1], "greeting"); got != "hello" {
		t.Fatalf("GET greeting on %s = %q after a PUT on %s", followers[1], got, followers[0])
	}
	step("PUT on %s read back on %s (leader %s)", followers[0], followers[1], leader)

	// Kill the leader: the others elect one of themselves and still serve the write.
	if err := c.Kill(t.Context(), leader); err != nil {
		t.Fatal(err)
	}
	newLeader := cl.agreedLeader(followers)
	if newLeader == leader {
		t.Fatalf("killed leader %s still leads", leader)
	}
	if got := cl.get(without(followers, newLeader)[0], "greeting"); got != "hello" {
		t.Fatalf("GET greeting after failover = %q", got)
	}
	cl.put(newLeader, "after-kill", "1")
	step("killed %s; %s elected, write readable", leader, newLeader)

	// Restart it: same data dir and address, back as a voter and caught up.
	if err := c.Restart(t.Context(), leader); err != nil {
		t.Fatal(err)
	}
	cl.waitCaughtUp(leader, cl.status(newLeader).AppliedIndex)
	cl.waitVoters(newLeader, c.Nodes())
	step("restarted %s; it rejoined and caught up", leader)

	// Pause a follower: it stops answering, the others keep committing.
	current := cl.agreedLeader(c.Nodes())
	paused := without(c.Nodes(), current)[0]
	if err := c.Pause(t.Context(), paused); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.tryStatus(paused); err == nil {
		t.Fatalf("paused %s still answers", paused)
	}
	cl.put(current, "during-pause", "1")
	if err := c.Resume(t.Context(), paused); err != nil {
		t.Fatal(err)
	}
	cl.waitCaughtUp(paused, cl.status(current).AppliedIndex)
	step("paused and resumed %s; it caught up", paused)

	// Partition a follower off: unreachable, the majority commits; heal:
	// reachable again at its address and caught up.
	current = cl.agreedLeader(c.Nodes())
	cut := without(c.Nodes(), current)[0]
	if err := c.Partition(t.Context(), [][]string{{cut}, without(c.Nodes(), cut)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.tryStatus(cut); err == nil {
		t.Fatalf("partitioned %s still answers", cut)
	}
	for i := range 5 {
		cl.put(current, fmt.Sprintf("during-partition/%d", i), "1")
	}
	target := cl.status(current).AppliedIndex
	if err := c.Heal(t.Context()); err != nil {
		t.Fatal(err)
	}
	cl.waitCaughtUp(cut, target)
	step("partitioned and healed %s; it caught up to index %d", cut, target)

	// Add a fourth server: with max_voters 3 autopilot keeps it a non-voter.
	added, err := c.AddNode(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if added != "n4" || len(c.Nodes()) != 4 || c.URL(added) == "" {
		t.Fatalf("AddNode = %q; nodes %v, URL %q", added, c.Nodes(), c.URL(added))
	}
	voters := without(c.Nodes(), added)
	testutil.WaitFor(t, joinTimeout, func() error { return cl.suffrages(voters[0], voters, []string{added}) })
	step("%s joined as a non-voter", added)
	// Past the stabilization time and a reconcile or two, it must stay one.
	testutil.Never(t, c.opts.ServerStabilizationTime+3*time.Second, func() error {
		return cl.suffrages(voters[0], voters, []string{added})
	})
	step("%s still a non-voter after stabilization", added)

	// Kill every node and start them all at once: one cluster again, from
	// the data dirs alone, with the writes kept.
	for _, n := range c.Nodes() {
		if err := c.Kill(t.Context(), n); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c.Nodes() {
		if err := c.Restart(t.Context(), n); err != nil {
			t.Fatal(err)
		}
	}
	current = cl.agreedLeader(c.Nodes())
	if got := cl.get(added, "during-partition/4"); got != "1" {
		t.Fatalf("GET during-partition/4 on %s after the mass restart = %q", added, got)
	}
	step("killed and restarted all; %s leads, writes kept", current)

	volumes := containerVolumes(t, c)
	logDir := t.TempDir()
	if err := c.CollectLogs(t.Context(), logDir); err != nil {
		t.Fatal(err)
	}
	checkLogs(t, logDir, c.Nodes())
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	checkLogs(t, closeLogs, c.Nodes())
	checkNothingLeft(t, c, volumes)
	step("closed; nothing left")
}

// checkSurface checks the static answers: name, faults, settings, URLs.
func checkSurface(t *testing.T, c *Cluster) {
	t.Helper()
	if c.Name() != "docker" {
		t.Errorf("Name = %q", c.Name())
	}
	for _, k := range []chaos.FaultKind{chaos.OneWayCut, chaos.GossipLoss, chaos.RaftDelay} {
		if slices.Contains(c.Supports(), k) {
			t.Errorf("Supports lists %s", k)
		}
	}
	if len(c.Supports()) != 8 {
		t.Errorf("Supports = %v, want the 8 kill, pause and partition faults", c.Supports())
	}
	for name, err := range map[string]error{
		"Cut":        c.Cut(t.Context(), "n1", "n2"),
		"GossipLoss": c.GossipLoss(t.Context(), 0.1),
		"RaftDelay":  c.RaftDelay(t.Context(), time.Millisecond),
	} {
		if !errors.Is(err, chaos.ErrUnsupported) {
			t.Errorf("%s = %v, want ErrUnsupported", name, err)
		}
	}
	want := chaos.AutopilotSettings{MaxVoters: 3, MinQuorum: 3, DeadServerReapAfter: 3 * time.Second}
	if got := c.Settings(); got != want {
		t.Errorf("Settings = %+v, want %+v", got, want)
	}
	if nodes := c.Nodes(); !slices.Equal(nodes, []string{"n1", "n2", "n3"}) {
		t.Errorf("Nodes = %v", nodes)
	}
	if u := c.URL("n1"); !strings.HasPrefix(u, "http://") || !strings.HasSuffix(u, ":7070") {
		t.Errorf("URL(n1) = %q", u)
	}
	if u := c.URL("nope"); u != "" {
		t.Errorf("URL(nope) = %q", u)
	}
}

// client talks to the agents' HTTP API from the test host.
type client struct {
	t    *testing.T
	c    *Cluster
	http *http.Client
	apis map[string]*api.Client // by URL, over http: Move changes a node's URL
}

// api is node's client API at its current address.
func (cl *client) api(node string) *api.Client {
	cl.t.Helper()
	u := cl.c.URL(node)
	if u == "" {
		cl.t.Fatalf("no URL for node %q", node)
	}
	if a, ok := cl.apis[u]; ok {
		return a
	}
	a, err := api.NewClient(api.Config{Address: u, HTTPClient: cl.http})
	if err != nil {
		cl.t.Fatal(err)
	}
	if cl.apis == nil {
		cl.apis = map[string]*api.Client{}
	}
	cl.apis[u] = a
	return a
}

func (cl *client) tryStatus(node string) (api.Status, error) {
	s, err := cl.api(node).Status(cl.t.Context())
	if err != nil {
		return s, fmt.Errorf("status of %s: %w", node, err)
	}
	return s, nil
}

func (cl *client) status(node string) api.Status {
	cl.t.Helper()
	var s api.Status
	testutil.WaitFor(cl.t, electTimeout, func() (err error) {
		s, err = cl.tryStatus(node)
		return err
	})
	return s
}

// agreedLeader waits until every one of nodes names the same leader, one of
// them, and that one says it leads.
func (cl *client) agreedLeader(nodes []string) string {
	cl.t.Helper()
	var leader string
	testutil.WaitFor(cl.t, electTimeout, func() error {
		leader = ""
		for _, n := range nodes {
			s, err := cl.tryStatus(n)
			if err != nil {
				return err
			}
			if s.LeaderID == "" || (leader != "" && s.LeaderID != leader) {
				return fmt.Errorf("%s sees leader %q, another node %q", n, s.LeaderID, leader)
			}
			leader = s.LeaderID
		}
		if !slices.Contains(nodes, leader) {
			return fmt.Errorf("leader %s is not one of %v", leader, nodes)
		}
		if s, err := cl.tryStatus(leader); err != nil || s.State != "leader" {
			return fmt.Errorf("%s does not say it leads: %+v, %v", leader, s, err)
		}
		return nil
	})
	return leader
}

func (cl *client) put(node, key, value string) {
	cl.t.Helper()
	testutil.WaitFor(cl.t, electTimeout, func() error {
		if _, err := cl.api(node).KVPut(cl.t.Context(), key, []byte(value), nil); err != nil {
			return fmt.Errorf("PUT %s on %s: %w", key, node, err)
		}
		return nil
	})
}

// get is a linearizable read of key on node.
func (cl *client) get(node, key string) string {
	cl.t.Helper()
	var value string
	testutil.WaitFor(cl.t, electTimeout, func() error {
		e, _, err := cl.api(node).KVGet(cl.t.Context(), key, nil)
		if err != nil {
			return fmt.Errorf("GET %s on %s: %w", key, node, err)
		}
		value = string(e.Value)
		return nil
	})
	return value
}

// waitCaughtUp waits until node follows a leader and has applied index.
func (cl *client) waitCaughtUp(node string, index uint64) {
	cl.t.Helper()
	testutil.WaitFor(cl.t, catchUpTimeout, func() error {
		s, err := cl.tryStatus(node)
		if err != nil {
			return err
		}
		if s.LeaderID == "" || s.AppliedIndex < index {
			return fmt.Errorf("%s: leader %q, applied index %d, want %d", node, s.LeaderID, s.AppliedIndex, index)
		}
		return nil
	})
}

func (cl *client) waitVoters(node string, voters []string) {
	cl.t.Helper()
	testutil.WaitFor(cl.t, catchUpTimeout, func() error { return cl.suffrages(node, voters, nil) })
}

// suffrages checks node's Raft configuration is exactly voters and nonvoters.
func (cl *client) suffrages(node string, voters, nonvoters []string) error {
	conf, err := cl.api(node).RaftConfiguration(cl.t.Context())
	if err != nil {
		return fmt.Errorf("Raft configuration of %s: %w", node, err)
	}
	got := map[string][]string{}
	for _, s := range conf.Servers {
		got[s.Suffrage] = append(got[s.Suffrage], s.ID)
	}
	if !sameSet(got["voter"], voters) || !sameSet(got["nonvoter"], nonvoters) || len(conf.Servers) != len(voters)+len(nonvoters) {
		return fmt.Errorf("%s: Raft configuration %+v, want voters %v and non-voters %v", node, conf.Servers, voters, nonvoters)
	}
	return nil
}

// containerVolumes lists the anonymous data volumes of the run's containers.
func containerVolumes(t *testing.T, c *Cluster) []string {
	t.Helper()
	var vols []string
	for _, n := range c.Nodes() {
		out, err := docker(t.Context(), probeTimeout, "inspect", "--format",
			`{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}`, c.Container(n))
		if err != nil {
			t.Fatal(err)
		}
		vols = append(vols, strings.Fields(out)...)
	}
	if len(vols) != len(c.Nodes()) {
		t.Fatalf("want one data volume per container, got %v", vols)
	}
	return vols
}

// checkLogs checks every node's log holds the agent's JSON lines.
func checkLogs(t *testing.T, dir string, nodes []string) {
	t.Helper()
	for _, n := range nodes {
		data, err := os.ReadFile(filepath.Join(dir, n+".log"))
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := bytes.Cut(data, []byte("\n"))
		if !json.Valid(first) {
			t.Errorf("log of %s does not start with a JSON line: %.200q", n, data)
		}
	}
}

// checkNothingLeft looks for the run's containers, network and volumes by
// label and name after Close.
func checkNothingLeft(t *testing.T, c *Cluster, volumes []string) {
	t.Helper()
	ctx := t.Context()
	for _, args := range [][]string{
		{"ps", "--all", "--quiet", "--filter", "label=" + c.Label()},
		{"network", "ls", "--quiet", "--filter", "label=" + c.Label()},
		{"network", "ls", "--quiet", "--filter", "name=" + c.Network()},
	} {
		out, err := docker(ctx, probeTimeout, args...)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) != "" {
			t.Errorf("docker %s after Close: %s", strings.Join(args, " "), out)
		}
	}
	for _, v := range volumes {
		if _, err := docker(ctx, probeTimeout, "volume", "inspect", v); err == nil {
			t.Errorf("volume %s left after Close", v)
		}
	}
}

// checkImageRemoved removes the image and checks it is gone.
func checkImageRemoved(t *testing.T, image string, remove func() error) {
	t.Helper()
	if err := remove(); err != nil {
		t.Errorf("removing image: %v", err)
	}
	if err := remove(); err != nil {
		t.Errorf("removing image twice: %v", err)
	}
	out, err := docker(context.Background(), probeTimeout, "images", "--all", "--quiet", "--filter", "reference="+image)
	if err != nil {
		t.Error(err)
	} else if strings.TrimSpace(out) != "" {
		t.Errorf("image %s left: %s", image, out)
	}
}

// dumpLogsOnFailure prints the tail of every agent's log when the test
// failed, before Close removes the containers.
func dumpLogsOnFailure(t *testing.T, c *Cluster) {
	if !t.Failed() {
		return
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), logsTimeout)
	defer cancel()
	if err := c.CollectLogs(ctx, dir); err != nil {
		t.Logf("collecting logs: %v", err)
	}
	for _, n := range c.Nodes() {
		data, _ := os.ReadFile(filepath.Join(dir, n+".log"))
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		t.Logf("last lines of %s:\n%s", n, strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
}

func without(nodes []string, drop string) []string {
	return slices.DeleteFunc(slices.Clone(nodes), func(n string) bool { return n == drop })
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
