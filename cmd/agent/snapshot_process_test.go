package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	agentapi "github.com/clusteragent/agent/api"
	"github.com/clusteragent/agent/internal/testutil"
)

// TestProcessSnapshotSaveRestoreAcrossClusters: a snapshot saved through a
// follower of a three-server cluster under writes holds every write
// acknowledged before the save; it is refused by a different cluster (two
// servers, other addresses, another cluster ID) unless forced, and corrupt
// or truncated copies are refused with that cluster unchanged; forced, every
// server of it ends with the state, keeps its own cluster ID, and a server
// that joins later gets the state too.
func TestProcessSnapshotSaveRestoreAcrossClusters(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	src := saveUnderLoad(t)
	// Cluster B: another size, other loopback addresses, its own ID.
	b := newProcCluster(t, "sb", 3)
	for _, n := range b.nodes {
		n.ip = "127.0.0.2"
	}
	for _, n := range b.nodes[:2] {
		b.start(n, []string{b.nodes[0].gossipAddr()}, "-bootstrap-expect", "2")
	}
	bLeader := b.leaderOf(b.nodes[:2], dayTwoTimeout)
	bKeys := b.putKeys("onlyb", 5, b.nodes[:2])
	clusterB := waitClusterID(t, bLeader.http())
	if clusterB == src.clusterID || clusterB == "" {
		t.Fatalf("cluster IDs %q and %q: want two different clusters", src.clusterID, clusterB)
	}
	checkRefusals(t, b.nodes[1], src.file, bKeys)

	// A blocking read on a key the snapshot holds, waiting in B from before
	// the restore, wakes with the restored value. It waits from the index
	// of B's last write.
	b0 := mustAgentAPI(t, b.nodes[0].http())
	marker, err := b0.KVPut(context.Background(), "onlyb/marker", []byte("m"), nil)
	if err != nil {
		t.Fatalf("PUT onlyb/marker: %v", err)
	}
	bKeys["onlyb/marker"] = "m"
	woke := blockingRead(t, b0, "base/k1", marker.Index)

	start := time.Now()
	code, out, errOut := runBinary(t, "snapshot", "restore", "-force", "-http-addr", b.nodes[1].http(), src.file)
	if code != 0 {
		t.Fatalf("forced restore: exit %d: %s%s", code, out, errOut)
	}
	t.Logf("forced restore into the 2-server cluster took %s: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))
	restoredAt := time.Now()
	lease, err := b0.LeaseShow(context.Background(), src.leaseID)
	if err != nil {
		t.Fatalf("GET lease %s after the restore: %v", src.leaseID, err)
	}
	remaining, err := time.ParseDuration(lease.Remaining)
	if err != nil || remaining < 8*time.Second-time.Since(restoredAt)-2*time.Second {
		t.Fatalf("restored lease %+v: remaining %v (%v), want about its full 8s TTL", lease, remaining, err)
	}
	select {
	case got := <-woke:
		if got.err != nil || string(got.entry.Value) != "v1" {
			t.Fatalf("the blocking read woke with %+v, %v; want base/k1's restored value v1", got.entry, got.err)
		}
	case <-time.After(20 * time.Second): // well before its 60s wait would end it
		t.Fatal("a blocking read on a restored key did not wake within 20s of the restore")
	}
	b.start(b.nodes[2], []string{b.nodes[0].gossipAddr()}, "-bootstrap-expect", "2")
	for _, n := range b.nodes {
		waitStaleState(t, n, src.keys, bKeys)
	}
	if got := waitClusterID(t, b.nodes[2].http()); got != clusterB {
		t.Fatalf("cluster ID after the restore = %q, want B's own %q", got, clusterB)
	}
	// The restored lease expires on B's leader once its TTL passed unrenewed.
	testutil.WaitFor(t, dayTwoTimeout, func() error {
		if _, found, err := getKV(b.nodes[0].http(), "leased/key", false); err != nil || found {
			return fmt.Errorf("leased/key still there (err %v)", err)
		}
		return nil
	})
	if gone := time.Since(restoredAt); gone < 6*time.Second {
		t.Fatalf("the restored lease expired %s after the restore, before its 8s TTL", gone)
	}
	// The restored cluster takes writes on top of the state.
	if err := putKV(b.nodes[0].http(), "after/restore", "1"); err != nil {
		t.Fatal(err)
	}
}

// savedSnapshot is what saveUnderLoad made.
type savedSnapshot struct {
	file, clusterID, leaseID string
	keys                     map[string]string // every key the snapshot must hold
}

// saveUnderLoad runs a three-server cluster, writes keys and a leased key,
// and saves a snapshot through a follower while writes go on; every write
// acknowledged before the save began must be in it.
func saveUnderLoad(t *testing.T) savedSnapshot {
	t.Helper()
	a := newProcCluster(t, "sa", 3)
	for _, n := range a.nodes {
		a.start(n, []string{a.nodes[0].gossipAddr()}, "-bootstrap-expect", "3")
	}
	leader := a.leaderOf(a.nodes, dayTwoTimeout)
	src := savedSnapshot{keys: a.putKeys("base", 100, a.nodes), file: filepath.Join(t.TempDir(), "a.snap")}
	follower := a.nodes[0]
	if follower == leader {
		follower = a.nodes[1]
	}
	// Restored, the lease must get its full TTL again on the restoring
	// leader, then expire there.
	la := mustAgentAPI(t, leader.http())
	lease, err := la.LeaseGrant(context.Background(), 8*time.Second)
	if err != nil {
		t.Fatalf("lease grant: %v", err)
	}
	src.leaseID = lease.ID
	if _, err := la.KVPut(context.Background(), "leased/key", []byte("held"), &agentapi.PutOptions{Lease: src.leaseID}); err != nil {
		t.Fatalf("leased put: %v", err)
	}
	w := startSnapWriter(leader.http())
	testutil.WaitFor(t, dayTwoTimeout, func() error {
		if n := len(w.acked()); n < 20 {
			return fmt.Errorf("%d writes acknowledged, want the load running first", n)
		}
		return nil
	})
	// Renewed now, the lease is alive in the snapshot however slow the
	// machine was so far.
	if _, err := la.LeaseRenew(context.Background(), src.leaseID); err != nil {
		t.Fatalf("lease renew: %v", err)
	}
	before := w.acked()
	code, out, errOut := runBinary(t, "snapshot", "save", "-http-addr", follower.http(), src.file)
	w.stop()
	if code != 0 {
		t.Fatalf("snapshot save: exit %d: %s%s", code, out, errOut)
	}
	for k, v := range before {
		src.keys[k] = v
	}
	t.Logf("saved under load: %s; %d writes acknowledged before the save", strings.TrimSpace(out), len(before))
	src.clusterID = waitClusterID(t, leader.http())
	info := inspectJSON(t, src.file)
	if !info.ChecksumOK || info.ClusterID != src.clusterID || info.Keys < uint64(len(src.keys)) {
		t.Fatalf("inspect = %+v, want checksum ok, cluster %s, at least %d keys", info, src.clusterID, len(src.keys))
	}
	// A stale save answers from the follower's own copy.
	stale := filepath.Join(filepath.Dir(src.file), "stale.snap")
	if code, out, errOut := runBinary(t, "snapshot", "save", "-stale", "-http-addr", follower.http(), stale); code != 0 {
		t.Fatalf("stale save: exit %d: %s%s", code, out, errOut)
	}
	if si := inspectJSON(t, stale); !si.ChecksumOK || si.ClusterID != src.clusterID {
		t.Fatalf("stale snapshot: %+v", si)
	}
	return src
}

// checkRefusals restores another cluster's snapshot without -force, and
// corrupt, truncated and unknown files with it, through the CLI and raw
// over HTTP: each is refused and the cluster keeps its keys.
func checkRefusals(t *testing.T, n *procNode, file string, keys map[string]string) {
	t.Helper()
	dir := filepath.Dir(file)
	refused := func(what, wantMsg string, args ...string) {
		t.Helper()
		code, out, errOut := runBinary(t, append([]string{"snapshot", "restore", "-http-addr", n.http()}, args...)...)
		if code != 1 || !strings.Contains(errOut, wantMsg) {
			t.Fatalf("%s: restore exit %d (%s%s), want 1 mentioning %q", what, code, out, errOut, wantMsg)
		}
		if err := checkKeys(n, keys); err != nil {
			t.Fatalf("%s: the cluster changed: %v", what, err)
		}
	}
	refused("another cluster", "another cluster", file)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := bytes.Clone(data)
	corrupt[len(corrupt)/2] ^= 0x40
	writeTestFile(t, filepath.Join(dir, "corrupt.snap"), corrupt)
	writeTestFile(t, filepath.Join(dir, "short.snap"), data[:len(data)-100])
	writeTestFile(t, filepath.Join(dir, "junk.snap"), []byte("not a snapshot\n"))
	refused("corrupt", "SHA-256 mismatch", "-force", filepath.Join(dir, "corrupt.snap"))
	refused("truncated", "truncated", "-force", filepath.Join(dir, "short.snap"))
	refused("unknown", "not a snapshot archive", "-force", filepath.Join(dir, "junk.snap"))
	// The agent checks on its own too, whatever the client did.
	for _, name := range []string{"corrupt.snap", "short.snap", "junk.snap"} {
		status, body := putSnapshotRaw(t, n.http(), filepath.Join(dir, name), true)
		if status != http.StatusBadRequest {
			t.Fatalf("raw PUT of %s: %d %s, want 400", name, status, body)
		}
	}
	if err := checkKeys(n, keys); err != nil {
		t.Fatalf("after the refused uploads, the cluster changed: %v", err)
	}
}

// blockingRead starts a blocking read of key on c from index idx, waiting
// up to 60s, and returns once the request is on the wire.
func blockingRead(t *testing.T, c *agentapi.Client, key string, idx uint64) <-chan wokenRead {
	t.Helper()
	woke := make(chan wokenRead, 1)
	sent := make(chan struct{})
	var once sync.Once
	go func() {
		trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(func() { close(sent) }) }}
		e, _, err := c.KVGet(httptrace.WithClientTrace(context.Background(), trace), key,
			&agentapi.QueryOptions{WaitIndex: idx, WaitTime: 60 * time.Second})
		once.Do(func() { close(sent) }) // never sent: the caller must not wait for good
		woke <- wokenRead{e, err}
	}()
	<-sent // a restore (a new process, an upload, two verifications) starts well after the read is waiting
	return woke
}

// wokenRead is how a blocking read answered.
type wokenRead struct {
	entry agentapi.KVEntry
	err   error
}

// waitStaleState waits until n's own copy holds every key of want and
// none of gone.
func waitStaleState(t *testing.T, n *procNode, want, gone map[string]string) {
	t.Helper()
	testutil.WaitFor(t, dayTwoTimeout, func() error {
		for k, v := range want {
			got, found, err := getKV(n.http(), k, true)
			if err != nil || !found || got != v {
				return fmt.Errorf("%s on %s = %q (found %v, err %v), want %q", k, n.id, got, found, err, v)
			}
		}
		for k := range gone {
			if _, found, err := getKV(n.http(), k, true); err != nil || found {
				return fmt.Errorf("%s on %s: still there (err %v)", k, n.id, err)
			}
		}
		return nil
	})
}

// TestProcessSnapshotSaveIsAtomic: a save whose agent cannot be reached,
// or whose stream is not a snapshot, leaves no FILE and no temporary file,
// and an existing FILE as it was.
func TestProcessSnapshotSaveIsAtomic(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s.snap")
	dead := testutil.FreePorts(t, 1)[0]
	code, _, errOut := runBinary(t, "snapshot", "save", "-http-addr", "127.0.0.1:"+strconv.Itoa(dead), file)
	if code != 1 || !strings.Contains(errOut, "cannot connect") {
		t.Fatalf("save to a dead agent: exit %d, %q", code, errOut)
	}
	// An endpoint that answers 200 with a cut stream, like an agent dying
	// mid-transfer.
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "\x89AGSNAP\r\n\x00\x01")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	writeTestFile(t, file, []byte("the previous snapshot"))
	code, _, errOut = runBinary(t, "snapshot", "save", "-http-addr", ln.Addr().String(), file)
	if code != 1 || !strings.Contains(errOut, "does not verify") {
		t.Fatalf("save of a cut stream: exit %d, %q", code, errOut)
	}
	entries, _ := os.ReadDir(dir)
	got, _ := os.ReadFile(file)
	if len(entries) != 1 || string(got) != "the previous snapshot" {
		t.Fatalf("after failed saves the dir holds %d entries and FILE %q; want the old FILE alone", len(entries), got)
	}
}

// TestProcessScheduledSnapshots: a leader with snapshot.interval writes
// snapshots into data_dir/backups, keeps the newest retain, and moves the
// last-success metric; each file inspects clean.
func TestProcessScheduledSnapshots(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	c := newProcCluster(t, "ss", 1)
	n := c.nodes[0]
	cfg := filepath.Join(n.dir, "agent.hcl")
	writeTestFile(t, cfg, []byte("snapshot {\n  interval = \"1s\"\n  retain = 2\n}\n"))
	c.start(n, nil, "-bootstrap-expect", "1", "-config", cfg)
	c.leaderOf(c.nodes, dayTwoTimeout)
	c.putKeys("sched", 20, c.nodes)
	backups := filepath.Join(n.dir, "data", "backups")
	var first []string
	testutil.WaitFor(t, dayTwoTimeout, func() error {
		first = snapFiles(backups)
		if len(first) != 2 {
			return fmt.Errorf("backups holds %v, want 2", first)
		}
		return nil
	})
	// Later snapshots replace the oldest: still two, newer names.
	testutil.WaitFor(t, dayTwoTimeout, func() error {
		now := snapFiles(backups)
		if len(now) > 2 {
			return fmt.Errorf("pruning failed: %v", now)
		}
		if len(now) != 2 || now[0] <= first[1] {
			return fmt.Errorf("backups holds %v, want two newer than %v", now, first)
		}
		return nil
	})
	testutil.WaitFor(t, dayTwoTimeout, func() error {
		v, err := scrapeMetric(n.http(), "snapshot_last_success_timestamp_seconds")
		if err != nil {
			return err
		}
		if v < float64(time.Now().Add(-time.Minute).Unix()) {
			return fmt.Errorf("snapshot_last_success_timestamp_seconds = %v", v)
		}
		return nil
	})
	if v, err := scrapeMetric(n.http(), "snapshot_failures_total"); err != nil || v != 0 {
		t.Fatalf("snapshot_failures_total = %v (%v), want 0", v, err)
	}
	files := snapFiles(backups)
	for _, f := range files {
		path := filepath.Join(backups, f)
		if _, err := os.Stat(path); err != nil {
			continue // pruned since the listing
		}
		if info := inspectJSON(t, path); info.Keys < 20 {
			t.Fatalf("%s holds %d keys, want at least 20", f, info.Keys)
		}
	}
}

func snapFiles(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "snapshot-") && strings.HasSuffix(e.Name(), ".snap") {
			out = append(out, e.Name())
		}
	}
	return out
}

// snapInfo is the part of `agent snapshot inspect -json` the tests read.
type snapInfo struct {
	Index      uint64 `json:"index"`
	ClusterID  string `json:"cluster_id"`
	Keys       uint64 `json:"keys"`
	Size       int64  `json:"size"`
	ChecksumOK bool   `json:"checksum_ok"`
}

func inspectJSON(t *testing.T, path string) snapInfo {
	t.Helper()
	code, out, errOut := runBinary(t, "snapshot", "inspect", "-json", path)
	var info snapInfo
	if code != 0 || json.Unmarshal([]byte(out), &info) != nil {
		t.Fatalf("inspect %s: exit %d: %s%s", path, code, out, errOut)
	}
	return info
}

func waitClusterID(t *testing.T, addr string) string {
	t.Helper()
	var st agentapi.Status
	testutil.WaitFor(t, dayTwoTimeout, func() error {
		var err error
		if st, err = getStatus(addr); err != nil {
			return err
		}
		if st.ClusterID == "" {
			return fmt.Errorf("%s has no cluster ID yet", addr)
		}
		return nil
	})
	return st.ClusterID
}

func putSnapshotRaw(t *testing.T, addr, path string, force bool) (int, string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := "http://" + addr + "/v1/snapshot"
	if force {
		u += "?force"
	}
	req, err := http.NewRequest(http.MethodPut, u, f)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func scrapeMetric(addr, name string) (float64, error) {
	c, err := agentAPI(addr)
	if err != nil {
		return 0, err
	}
	var body strings.Builder
	if err := c.Metrics(context.Background(), &body); err != nil {
		return 0, err
	}
	for _, line := range strings.Split(body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no %s in /metrics", name)
}

func writeTestFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// snapWriter writes keys to one agent in a loop and records the
// acknowledged ones.
type snapWriter struct {
	mu   sync.Mutex
	ack  map[string]string
	quit chan struct{}
	done chan struct{}
}

func startSnapWriter(addr string) *snapWriter {
	w := &snapWriter{ack: map[string]string{}, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for i := 0; ; i++ {
			select {
			case <-w.quit:
				return
			default:
			}
			k, v := fmt.Sprintf("load/k%d", i), strconv.Itoa(i)
			if putKV(addr, k, v) == nil {
				w.mu.Lock()
				w.ack[k] = v
				w.mu.Unlock()
			}
		}
	}()
	return w
}

func (w *snapWriter) acked() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]string, len(w.ack))
	for k, v := range w.ack {
		out[k] = v
	}
	return out
}

func (w *snapWriter) stop() { close(w.quit); <-w.done }
