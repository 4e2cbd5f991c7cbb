package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

// crashTimeout bounds each wait of the crash tests: generous, for -race on
// a loaded two-core machine, where a restart and election take seconds.
const crashTimeout = 45 * time.Second

// crashCluster is three `agent run` processes on fixed loopback ports, so
// a process killed with SIGKILL can be restarted on its data dir and
// address.
type crashCluster struct {
	t     *testing.T
	store string // raft.log_store for the data dirs
	ports []int  // gossip, raft, http: 3 each
	dirs  []string
	procs []*agentProc
	runs  []int // starts per node, to name each process's log
}

func newCrashCluster(t *testing.T, store string) *crashCluster {
	c := &crashCluster{t: t, store: store, ports: testutil.FreePorts(t, 9)}
	for i := 0; i < 3; i++ {
		c.dirs = append(c.dirs, t.TempDir())
		c.procs = append(c.procs, nil)
		c.runs = append(c.runs, 0)
		c.start(i)
	}
	return c
}

func (c *crashCluster) id(i int) string   { return "crash" + strconv.Itoa(i+1) }
func (c *crashCluster) http(i int) string { return "127.0.0.1:" + strconv.Itoa(c.ports[6+i]) }

// start (re)starts node i on its data dir with the same flags.
func (c *crashCluster) start(i int) {
	c.runs[i]++
	c.procs[i] = startProcIn(c.t, c.id(i), filepath.Join(c.dirs[i], "data"), filepath.Join(c.dirs[i], fmt.Sprintf("%s-run%d.log", c.id(i), c.runs[i])),
		"-bind", "127.0.0.1",
		"-gossip-port", strconv.Itoa(c.ports[i]),
		"-raft-port", strconv.Itoa(c.ports[3+i]),
		"-http-addr", c.http(i),
		"-raft-log-store", c.store,
		"-join", "127.0.0.1:"+strconv.Itoa(c.ports[0]), "-bootstrap-expect", "3")
	c.procs[i].http = c.http(i)
}

// waitLeader waits until the given nodes agree on one leader among all
// three and returns its index.
func (c *crashCluster) waitLeader(nodes ...int) int {
	leader := -1
	testutil.WaitFor(c.t, crashTimeout, func() error {
		leader = -1
		var seen []string
		for _, i := range nodes {
			st, err := getStatus(c.http(i))
			if err != nil {
				return err
			}
			seen = append(seen, fmt.Sprintf("%s=%s(leader %q)", c.id(i), st.State, st.LeaderID))
			if st.LeaderID == "" || (leader >= 0 && c.id(leader) != st.LeaderID) {
				return fmt.Errorf("no agreed leader: %s", strings.Join(seen, ", "))
			}
			for j := range c.procs {
				if c.id(j) == st.LeaderID {
					leader = j
				}
			}
		}
		if leader < 0 {
			return fmt.Errorf("leader unknown: %s", strings.Join(seen, ", "))
		}
		return nil
	})
	return leader
}

// checkNoPanic fails the test if any log of node i shows a Go panic or a
// fatal runtime error.
func (c *crashCluster) checkNoPanic(i int) {
	logs, _ := filepath.Glob(filepath.Join(c.dirs[i], c.id(i)+"-run*.log"))
	for _, path := range logs {
		b, err := os.ReadFile(path)
		if err != nil {
			c.t.Fatal(err)
		}
		if s := string(b); strings.Contains(s, "panic:") || strings.Contains(s, "fatal error:") {
			c.t.Errorf("%s shows a panic:\n%s", filepath.Base(path), s)
		}
	}
}

// TestKillNineDuringWritesLosesNoAcknowledgedWrite SIGKILLs a follower and
// then the leader of a 3-process cluster while a bounded writer puts keys,
// restarts each on its data dir, and checks that every acknowledged write
// reads back (linearizably, and from the restarted node's own copy) with
// its last acknowledged value, and that no process panicked. It runs once
// per log store.
func TestKillNineDuringWritesLosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills agent processes")
	}
	agentBinary(t) // build before starting any clock
	for _, store := range []string{"wal", "boltdb"} {
		t.Run(store, func(t *testing.T) {
			c := newCrashCluster(t, store)
			leader := c.waitLeader(0, 1, 2)
			if st, err := getStatus(c.http(leader)); err != nil || st.LogStore != store {
				t.Fatalf("leader runs log store %q (%v), want %q", st.LogStore, err, store)
			}
			first := c.crashRound("follower", (leader+1)%3)
			second := c.crashRound("leader", c.waitLeader(0, 1, 2))
			// The first round's writes survived the second crash too.
			n := c.verify(first.kvWriter, second.reader, second.victim)
			t.Logf("after both crashes: the follower round's %d keys still read back", n)
		})
	}
}

// crashRoundResult is one round's writer and the nodes it read through.
type crashRoundResult struct {
	*kvWriter
	reader, victim int
}

// crashRound kills node victim (role names it in the log) mid-load,
// restarts it and verifies every acknowledged write.
func (c *crashCluster) crashRound(role string, victim int) crashRoundResult {
	t := c.t
	start := time.Now()
	var survivors []int
	for i := range c.procs {
		if i != victim {
			survivors = append(survivors, i)
		}
	}
	w := startKVWriter("crash/"+role, []string{c.http(survivors[0]), c.http(survivors[1])}, 3, 1500, time.Now().Add(20*time.Second))
	defer w.Stop()
	waitAcked(t, w, 100)
	c.procs[victim].kill()
	atKill := w.acked.Load()
	waitAcked(t, w, atKill+100) // the survivors keep committing: a new leader if need be
	c.start(victim)
	c.waitLeader(0, 1, 2) // the restarted node has rejoined
	w.Stop()
	checked := c.verify(w, survivors[0], victim)
	for i := range c.procs {
		c.checkNoPanic(i)
	}
	t.Logf("%s %s killed after %d acknowledged writes; %d acknowledged, %d failed or unknown (last: %v); "+
		"%d keys checked linearizably and on the restarted node; round took %s",
		role, c.id(victim), atKill, w.acked.Load(), w.failed.Load(), w.lastErr.Load(), checked, time.Since(start).Round(time.Millisecond))
	return crashRoundResult{kvWriter: w, reader: survivors[0], victim: victim}
}

// waitAcked waits until the writer has seen at least n acknowledgements.
func waitAcked(t *testing.T, w *kvWriter, n int64) {
	t.Helper()
	testutil.WaitFor(t, crashTimeout, func() error {
		if got := w.acked.Load(); got < n {
			return fmt.Errorf("%d writes acknowledged, want %d (%d failed, last error %v)", got, n, w.failed.Load(), w.lastErr.Load())
		}
		return nil
	})
}

// verify reads every key with an acknowledged write: linearizably through
// reader, and from restarted's own copy once it has applied everything the
// leader had committed. It returns how many keys it checked.
func (c *crashCluster) verify(w *kvWriter, reader, restarted int) int {
	t := c.t
	leader := c.waitLeader(0, 1, 2)
	lst, err := getStatus(c.http(leader))
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, crashTimeout, func() error {
		st, err := getStatus(c.http(restarted))
		if err == nil && st.AppliedIndex < lst.CommitIndex {
			err = fmt.Errorf("%s applied %d of %d", c.id(restarted), st.AppliedIndex, lst.CommitIndex)
		}
		return err
	})
	checked := 0
	for _, key := range w.keys() {
		for _, src := range []struct {
			node  int
			stale bool
		}{{reader, false}, {restarted, true}} {
			var got string
			var found bool
			testutil.WaitFor(t, crashTimeout, func() error {
				got, found, err = getKV(c.http(src.node), key, src.stale)
				return err
			})
			if !found {
				got = "(absent)"
			}
			ok, err := w.check(key, got)
			if err != nil {
				t.Errorf("read on %s (stale %v): %v", c.id(src.node), src.stale, err)
			}
			if ok && !src.stale {
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("no key had an acknowledged write")
	}
	return checked
}
