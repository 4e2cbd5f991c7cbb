//go:build unix

package procrun

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clusteragent/agent/api"
	"github.com/clusteragent/agent/bench/proc"
	"github.com/clusteragent/agent/internal/buildagent"
	"github.com/clusteragent/agent/internal/chaos"
	"github.com/clusteragent/agent/internal/testutil"
)

// TestMain removes the binary the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	_ = buildagent.Cleanup()
	os.Exit(code)
}

// agentBinary builds the agent once per test process.
func agentBinary(t *testing.T) string {
	t.Helper()
	return buildagent.For(t, buildagent.Options{})
}

// TestProcessCluster drives every fault the runner supports against three
// agent processes and checks the cluster and its data survive each one.
func TestProcessCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent and runs it as processes")
	}
	bin := agentBinary(t)
	dir := t.TempDir()
	began := time.Now()
	step := func(name string) { t.Logf("--- %s at %s", name, time.Since(began).Round(time.Millisecond)) }

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{Binary: bin, Dir: dir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			for _, id := range c.Nodes() {
				t.Logf("%s log tail:\n%s", id, proc.LogTail(filepath.Join(dir, id+".log"), 15))
			}
		}
	})
	starts := map[string]int{"n1": 1, "n2": 1, "n3": 1}
	step("formed")

	if got := c.Nodes(); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
		t.Fatalf("Nodes() = %v", got)
	}
	if c.Name() != "process" {
		t.Errorf("Name() = %q", c.Name())
	}
	for _, k := range []chaos.FaultKind{chaos.KillLeader, chaos.PauseLeader, chaos.MassRestart} {
		if !slices.Contains(c.Supports(), k) {
			t.Errorf("Supports() = %v lacks %s", c.Supports(), k)
		}
	}
	if slices.Contains(c.Supports(), chaos.PartitionLeader) {
		t.Errorf("Supports() = %v offers a network fault", c.Supports())
	}
	if err := c.Partition(ctx, [][]string{{"n1"}, {"n2", "n3"}}); !errors.Is(err, chaos.ErrUnsupported) {
		t.Errorf("Partition: %v, want ErrUnsupported", err)
	}
	if want := (chaos.AutopilotSettings{MaxVoters: 3, MinQuorum: 3, DeadServerReapAfter: 3 * time.Second}); c.Settings() != want {
		t.Errorf("Settings() = %+v, want %+v", c.Settings(), want)
	}

	// A write on one node is readable on another.
	mustPut(t, c.URL("n1"), "k1", "v1")
	if v := mustGet(t, c.URL("n2"), "k1"); v != "v1" {
		t.Fatalf("k1 on n2 = %q, want v1", v)
	}

	step("kill the leader")
	old := leader(t, c, c.Nodes())
	oldPid := pidOf(c, old)
	if err := c.Kill(ctx, old); err != nil {
		t.Fatal(err)
	}
	if processExists(oldPid) {
		t.Fatalf("%s (pid %d) still exists after Kill", old, oldPid)
	}
	survivors := without(c.Nodes(), old)
	next := leader(t, c, survivors)
	if next == old {
		t.Fatalf("leader is still %s", old)
	}
	if v := mustGet(t, c.URL(survivors[0]), "k1"); v != "v1" {
		t.Fatalf("k1 on %s after failover = %q", survivors[0], v)
	}
	mustPut(t, c.URL(survivors[1]), "k2", "v2")

	step("restart the old leader")
	if err := c.Restart(ctx, old); err != nil {
		t.Fatal(err)
	}
	starts[old]++
	if err := c.Restart(ctx, old); err == nil {
		t.Error("a second Restart of a running node succeeded")
	}
	waitCaughtUp(t, c, old)

	step("pause a follower")
	lead := leader(t, c, c.Nodes())
	follower := without(c.Nodes(), lead)[0]
	if err := c.Pause(ctx, follower); err != nil {
		t.Fatal(err)
	}
	// A stopped process's kernel still accepts connections, but nothing answers.
	stalled, err := api.NewClient(api.Config{Address: c.URL(follower), HTTPClient: http.DefaultClient, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := stalled.Status(ctx); err == nil || statusCode(err) != 0 {
		t.Fatalf("paused %s answered: %+v, %v", follower, st, err)
	}
	mustPut(t, c.URL(lead), "k3", "v3")
	if err := c.Resume(ctx, follower); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, c, follower)

	step("add a node")
	added, err := c.AddNode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if added != "n4" || !slices.Equal(c.Nodes(), []string{"n1", "n2", "n3", "n4"}) {
		t.Fatalf("AddNode = %q, Nodes() = %v", added, c.Nodes())
	}
	starts[added]++
	suffrage := func() (string, error) {
		cfg, err := apiOf(c, leader(t, c, without(c.Nodes(), added))).RaftConfiguration(context.Background())
		if err != nil {
			return "", err
		}
		for _, s := range cfg.Servers {
			if s.ID == added {
				return s.Suffrage, nil
			}
		}
		return "", fmt.Errorf("%s not in the Raft configuration: %+v", added, cfg.Servers)
	}
	testutil.WaitFor(t, 20*time.Second, func() error {
		_, err := suffrage()
		return err
	})
	waitCaughtUp(t, c, added)
	// Past the stabilization time it would be promoted, but max_voters is 3.
	testutil.Never(t, serverStabilizationTime+time.Second, func() error {
		if s, err := suffrage(); err != nil || s != "nonvoter" {
			return fmt.Errorf("%s suffrage %q, err %v; want nonvoter", added, s, err)
		}
		return nil
	})

	step("mass restart")
	for _, id := range c.Nodes() {
		if err := c.Kill(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range c.Nodes() {
		if err := c.Restart(ctx, id); err != nil {
			t.Fatal(err)
		}
		starts[id]++
	}
	lead = leader(t, c, []string{"n1", "n2", "n3"})
	for _, id := range c.Nodes() {
		waitCaughtUp(t, c, id)
	}
	for _, kv := range [][2]string{{"k1", "v1"}, {"k2", "v2"}, {"k3", "v3"}} {
		if v := mustGet(t, c.URL(lead), kv[0]); v != kv[1] {
			t.Errorf("%s after the mass restart = %q, want %q", kv[0], v, kv[1])
		}
	}

	step("collect logs and close")
	logs := t.TempDir()
	if err := c.CollectLogs(ctx, logs); err != nil {
		t.Fatal(err)
	}
	for id, n := range starts {
		if got := countStarts(t, filepath.Join(logs, id+".log")); got != n {
			t.Errorf("%s log shows %d starts, want %d (the log must span restarts)", id, got, n)
		}
	}
	var pids []int
	for _, id := range c.Nodes() {
		pids = append(pids, pidOf(c, id))
	}
	if err := c.Pause(ctx, "n2"); err != nil {
		t.Fatal(err) // Close must end a stopped process too
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if processExists(pid) {
			t.Errorf("pid %d still exists after Close", pid)
		}
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := c.Restart(ctx, "n1"); !errors.Is(err, ErrClosed) {
		t.Errorf("Restart after Close: %v, want ErrClosed", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "n1.log")); err != nil {
		t.Errorf("Close removed the caller's dir: %v", err)
	}
	step("done")
}

// TestStartFailureKillsWhatItStarted gives the nodes a binary that exits at
// once: Start must fail with the log, and leave no process behind.
func TestStartFailureKillsWhatItStarted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "fake-agent")
	// n1 exits straight away; the others would run until killed.
	body := "#!/bin/sh\ncase \"$3\" in */n1/*) echo n1 refuses; exit 3;; esac\nexec sleep 600\n"
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var pids []int
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := Start(ctx, Options{Binary: script, Dir: dir, Servers: 3, Logf: func(format string, args ...any) {
		if format == startedFormat {
			mu.Lock()
			pids = append(pids, args[1].(int))
			mu.Unlock()
		}
		t.Logf(format, args...)
	}})
	if err == nil || !strings.Contains(err.Error(), "n1 refuses") {
		t.Fatalf("Start: %v; want n1's exit and its log", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(pids) != 3 {
		t.Fatalf("saw %d starts, want 3", len(pids))
	}
	for _, pid := range pids {
		if processExists(pid) {
			t.Errorf("pid %d still exists after the failed Start", pid)
		}
	}
}

// apiOf is node's client API, as the runner itself reads it.
func apiOf(c *Cluster, node string) *api.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[node].api
}

func status(c *Cluster, node string) (api.Status, error) {
	return apiOf(c, node).Status(context.Background())
}

// leader waits until every node in nodes names the same leader, one of
// them, and that one says it leads.
func leader(t *testing.T, c *Cluster, nodes []string) string {
	t.Helper()
	var id string
	testutil.WaitFor(t, 30*time.Second, func() error {
		id = ""
		for _, n := range nodes {
			s, err := status(c, n)
			if err != nil {
				return err
			}
			if s.LeaderID == "" || (id != "" && s.LeaderID != id) {
				return fmt.Errorf("%s names leader %q, another %q", n, s.LeaderID, id)
			}
			id = s.LeaderID
		}
		if !slices.Contains(nodes, id) {
			return fmt.Errorf("leader %s is not one of %v", id, nodes)
		}
		if s, err := status(c, id); err != nil || s.State != "leader" {
			return fmt.Errorf("%s is named leader but is %q (%v)", id, s.State, err)
		}
		return nil
	})
	return id
}

// waitCaughtUp waits until node follows the leader and has applied as much
// as the leader has.
func waitCaughtUp(t *testing.T, c *Cluster, node string) {
	t.Helper()
	testutil.WaitFor(t, 30*time.Second, func() error {
		s, err := status(c, node)
		if err != nil {
			return err
		}
		if s.LeaderID == "" {
			return fmt.Errorf("%s has no leader", node)
		}
		l, err := status(c, s.LeaderID)
		if err != nil {
			return err
		}
		if l.State != "leader" || s.AppliedIndex < l.AppliedIndex {
			return fmt.Errorf("%s applied %d, %s (%s) applied %d", node, s.AppliedIndex, l.NodeID, l.State, l.AppliedIndex)
		}
		return nil
	})
}

// mustPut writes key, retrying while the cluster answers 5xx (no leader
// yet, say); a 4xx or a refused write fails the test.
func mustPut(t *testing.T, base, key, value string) {
	t.Helper()
	cl := testAPI(t, base)
	testutil.WaitFor(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := cl.KVPut(ctx, key, []byte(value), nil)
		if code := statusCode(err); (code >= 400 && code < 500) || errors.Is(err, api.ErrCASFailed) {
			t.Fatalf("PUT %s: %d %v", key, code, err)
		}
		if err != nil {
			return fmt.Errorf("PUT %s: %w", key, err)
		}
		return nil
	})
}

// mustGet reads key linearizably, retrying while the cluster answers 5xx.
func mustGet(t *testing.T, base, key string) string {
	t.Helper()
	cl := testAPI(t, base)
	var value string
	testutil.WaitFor(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e, _, err := cl.KVGet(ctx, key, nil)
		if code := statusCode(err); code != 0 && code < 500 {
			t.Fatalf("GET %s: %d %v", key, code, err)
		}
		if err != nil {
			return fmt.Errorf("GET %s: %w", key, err)
		}
		value = string(e.Value)
		return nil
	})
	return value
}

// testAPI is a client of the API at base over the default transport; each
// call is bounded by its context.
func testAPI(t *testing.T, base string) *api.Client {
	t.Helper()
	cl, err := api.NewClient(api.Config{Address: base, HTTPClient: http.DefaultClient})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// statusCode is the HTTP status of the agent's error answer err, or 0
// when err is not one.
func statusCode(err error) int {
	var se *api.StatusError
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return 0
}

func pidOf(c *Cluster, node string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[node].proc.Pid()
}

// processExists reports whether pid names a process, zombies included:
// the runner must have reaped what it killed.
func processExists(pid int) bool {
	return syscall.Kill(pid, 0) != syscall.ESRCH
}

func without(nodes []string, drop string) []string {
	var out []string
	for _, n := range nodes {
		if n != drop {
			out = append(out, n)
		}
	}
	return out
}

// countStarts counts the "agent started" lines of a JSON log.
func countStarts(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg string `json:"@message"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "agent started" {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
