package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/bench/proc"
	"github.com/clusteragent/agent/internal/testutil"
)

// agentProc is one `agent run` process of the built binary, started
// through the module's process harness.
type agentProc struct {
	id   string
	http string
	ps   *proc.Process
	log  string
	done <-chan struct{} // closed when the process has exited
}

// exitErr is the process's exit status once done is closed.
func (p *agentProc) exitErr() error { return p.ps.Err() }

// startProc starts the binary with args on a fresh data dir; the test's
// cleanup stops it with SIGTERM, then SIGKILL if it does not exit in time.
func startProc(t *testing.T, id string, args ...string) *agentProc {
	t.Helper()
	return startProcEnv(t, id, nil, args...)
}

// startProcEnv is startProc with extra environment variables (KEY=VALUE).
func startProcEnv(t *testing.T, id string, env []string, args ...string) *agentProc {
	t.Helper()
	dir := t.TempDir()
	return startProcWith(t, id, env, filepath.Join(dir, "data"), filepath.Join(dir, id+".log"), args...)
}

// startProcIn is startProc on a given data dir, logging to logPath; a test
// restarts an agent on its data dir with it.
func startProcIn(t *testing.T, id, dataDir, logPath string, args ...string) *agentProc {
	t.Helper()
	return startProcWith(t, id, nil, dataDir, logPath, args...)
}

// startProcWith starts the binary with extra environment variables, on
// dataDir, logging to logPath.
func startProcWith(t *testing.T, id string, env []string, dataDir, logPath string, args ...string) *agentProc {
	t.Helper()
	ps, err := proc.StartSpec(proc.Spec{
		Name:        id,
		Binary:      agentBinary(t),
		Args:        append([]string{"run", "-node-id", id, "-data-dir", dataDir}, args...),
		Env:         append([]string{"AGENT_HTTP_ADDR=", "AGENT_HTTP_TOKEN="}, env...),
		LogPath:     logPath,
		TruncateLog: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &agentProc{id: id, ps: ps, log: logPath, done: ps.Done()}
	t.Cleanup(func() {
		if err := p.stop(10 * time.Second); err != nil {
			t.Errorf("%s: %v\n%s", id, err, p.tail())
		}
	})
	return p
}

// stop sends SIGTERM and waits; a process that hangs is killed and reported.
func (p *agentProc) stop(timeout time.Duration) error { return p.ps.Stop(timeout) }

// kill sends SIGKILL, as a crash or the OOM killer would, and waits for
// the process to be reaped.
func (p *agentProc) kill() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = p.ps.Kill(ctx)
}

func (p *agentProc) tail() string { return proc.LogTail(p.log, 30) }

// TestProcessesJoinIntoOneCluster runs three `agent run` processes of the
// built binary that join through the first one's gossip address, and checks
// with `agent raft peers` that they form one cluster of three voters.
func TestProcessesJoinIntoOneCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three agent processes")
	}
	ports := testutil.FreePorts(t, 9)
	seed := "127.0.0.1:" + strconv.Itoa(ports[0])
	var procs []*agentProc
	for i := 0; i < 3; i++ {
		p := startProc(t, fmt.Sprintf("proc%d", i+1),
			"-bind", "127.0.0.1",
			"-gossip-port", strconv.Itoa(ports[i]),
			"-raft-port", strconv.Itoa(ports[3+i]),
			"-http-addr", "127.0.0.1:"+strconv.Itoa(ports[6+i]),
			"-join", seed, "-bootstrap-expect", "3")
		p.http = "127.0.0.1:" + strconv.Itoa(ports[6+i])
		procs = append(procs, p)
	}

	var peers []struct {
		ID       string `json:"id"`
		Suffrage string `json:"suffrage"`
		Leader   bool   `json:"leader"`
	}
	testutil.WaitFor(t, 60*time.Second, func() error {
		for _, p := range procs {
			code, out, errOut := runBinary(t, "raft", "peers", "-json", "-http-addr", p.http)
			if code != 0 {
				return fmt.Errorf("%s: raft peers exit %d: %s", p.id, code, errOut)
			}
			var cfg struct {
				Servers []struct {
					ID       string `json:"id"`
					Suffrage string `json:"suffrage"`
					Leader   bool   `json:"leader"`
				} `json:"servers"`
			}
			if err := json.Unmarshal([]byte(out), &cfg); err != nil {
				return fmt.Errorf("%s: raft peers -json: %v: %q", p.id, err, out)
			}
			voters, leaders := 0, 0
			for _, s := range cfg.Servers {
				if s.Suffrage == "voter" {
					voters++
				}
				if s.Leader {
					leaders++
				}
			}
			if voters != 3 || leaders != 1 {
				return fmt.Errorf("%s sees %d voters and %d leaders: %s", p.id, voters, leaders, out)
			}
			peers = cfg.Servers
		}
		return nil
	})
	if len(peers) != 3 {
		t.Fatalf("peers = %+v", peers)
	}

	// The human table names every node and their suffrage.
	code, out, errOut := runBinary(t, "raft", "peers", "-http-addr", procs[1].http)
	if code != 0 {
		t.Fatalf("raft peers: exit %d: %s", code, errOut)
	}
	for _, p := range procs {
		if !strings.Contains(out, p.id) {
			t.Errorf("raft peers table lacks %s:\n%s", p.id, out)
		}
	}
	if strings.Count(out, "voter") < 3 {
		t.Errorf("raft peers table shows fewer than 3 voters:\n%s", out)
	}

	// Least privilege: nothing the agents wrote is readable by others.
	for _, p := range procs {
		if err := checkPrivate(filepath.Join(filepath.Dir(p.log), "data")); err != nil {
			t.Error(err)
		}
	}

	// SIGTERM: every process exits 0 (checked by the cleanup), the leader
	// after handing off leadership.
	for _, p := range procs {
		if err := p.stop(15 * time.Second); err != nil {
			t.Errorf("%s: %v\n%s", p.id, err, p.tail())
		}
	}
}

// checkPrivate walks dir and reports any file or directory that group or
// others may access.
func checkPrivate(dir string) error {
	count := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		count++
		if info.Mode().Perm()&0o077 != 0 {
			return fmt.Errorf("%s has mode %v; want no group or other access", path, info.Mode().Perm())
		}
		return nil
	})
	if err == nil && count < 3 {
		err = fmt.Errorf("%s holds only %d entries; the agent wrote nothing?", dir, count)
	}
	return err
}
