package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/clusteragent/agent/api"
	"github.com/clusteragent/agent/bench/proc"
)

// measure restores src, waits for every server to hold its last key,
// saves a copy and inspects it.
func measure(ctx context.Context, c *cluster, dir, src, lastKey string) error {
	leader, err := leaderIndex(ctx, c)
	if err != nil {
		return err
	}
	pid := c.procs[leader].Pid()
	report("leader before the restore", pid)
	start := time.Now()
	cliRSS, err := cli(ctx, c.procs[leader], "snapshot", "restore", "-force", "-http-addr", c.https[leader], src)
	if err != nil {
		return err
	}
	fmt.Printf("restore: %s (CLI peak RSS %s)\n", since(start), mib(cliRSS))
	report("leader after the restore", pid)
	if err := poll(ctx, func() error {
		for _, a := range c.apis {
			if err := hasKey(ctx, a, lastKey); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	fmt.Printf("every server holds the state: %s after the restore began\n", since(start))
	for i, p := range c.procs {
		if i != leader {
			report("follower "+p.Name(), p.Pid())
		}
	}
	out := filepath.Join(dir, "saved.snap")
	start = time.Now()
	if cliRSS, err = cli(ctx, c.procs[leader], "snapshot", "save", "-http-addr", c.https[leader], out); err != nil {
		return err
	}
	st, _ := os.Stat(out)
	fmt.Printf("save: %s, %d bytes (CLI peak RSS %s)\n", since(start), st.Size(), mib(cliRSS))
	report("leader after the save", pid)
	start = time.Now()
	if cliRSS, err = cli(ctx, c.procs[leader], "snapshot", "inspect", out); err != nil {
		return err
	}
	fmt.Printf("inspect: %s (CLI peak RSS %s)\n", since(start), mib(cliRSS))
	// Over a store that holds the same keys: the state machine builds the
	// new tree beside the old one and swaps them only once the whole
	// stream checked out, so this peak shows the two trees, not the file.
	start = time.Now()
	if cliRSS, err = cli(ctx, c.procs[leader], "snapshot", "restore", "-http-addr", c.https[leader], out); err != nil {
		return err
	}
	fmt.Printf("restore over the full store: %s (CLI peak RSS %s)\n", since(start), mib(cliRSS))
	report("leader after the second restore", pid)
	return nil
}

// cli runs the agent binary as a client and returns its peak RSS, the
// largest VmHWM sampled while it runs. Not the rusage max RSS: on Linux a
// child exec'd from a vfork inherits its parent's high-water mark, and
// this process held the whole store to build the archive.
func cli(ctx context.Context, _ *proc.Process, args ...string) (uint64, error) {
	cmd := exec.CommandContext(ctx, agentBinary, args...)
	cmd.Env = append(os.Environ(), "AGENT_HTTP_TOKEN=")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peak uint64
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return 0, fmt.Errorf("agent %s: %v: %s", strings.Join(args, " "), err, out.String())
			}
			return peak, nil
		case <-tick.C:
			peak = max(peak, hwm(cmd.Process.Pid))
		}
	}
}

var agentBinary string

// report prints a process's RSS now and its peak so far (VmHWM).
func report(what string, pid int) {
	rss, _ := proc.RSS(pid)
	fmt.Printf("  %s: RSS %s, peak %s\n", what, mib(rss), mib(hwm(pid)))
}

func hwm(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			kb, _ := strconv.ParseUint(f[0], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func leaderIndex(ctx context.Context, c *cluster) (int, error) {
	for i, a := range c.apis {
		if st, err := a.Status(ctx); err == nil && st.State == "leader" {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no leader among %v", c.https)
}

// hasKey checks a's own copy holds key.
func hasKey(ctx context.Context, a *api.Client, key string) error {
	if _, _, err := a.KVGet(ctx, key, &api.QueryOptions{Stale: true}); err != nil {
		return fmt.Errorf("%s on %s: %w", key, a.Host(), err)
	}
	return nil
}
