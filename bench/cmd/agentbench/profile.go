package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clusteragent/agent/bench/agentcluster"
	"github.com/clusteragent/agent/bench/load"
)

// profiler takes CPU profiles of the leader, through the agents'
// /debug/pprof, during the largest put and get levels of the first round.
// A zero profiler (no dir) takes none.
type profiler struct {
	dir   string
	round int
}

// wanted reports whether level l of plan is profiled.
func (p profiler) wanted(plan load.Plan, l load.Level) bool {
	return p.dir != "" && p.round == 1 && l.Clients == maxClients(plan)
}

func maxClients(plan load.Plan) int {
	m := 0
	for _, c := range plan.Clients {
		m = max(m, c)
	}
	return m
}

// start fetches a CPU profile of the leader over the level's warm-up and
// measured time into dir/leader-NAME-CLIENTS.pprof, then its allocation
// profile (cumulative since the agent started) into
// leader-NAME-CLIENTS-allocs.pprof; the returned func waits for both.
// Failures are logged: a profile is an aid, not a result.
func (p profiler) start(ctx context.Context, leader *agentcluster.Node, plan load.Plan, l load.Level) (wait func()) {
	seconds := int((plan.Warmup + plan.Duration).Round(time.Second) / time.Second)
	path := filepath.Join(p.dir, fmt.Sprintf("leader-%s-%d.pprof", l.Name, l.Clients))
	done := make(chan struct{})
	go func() {
		defer close(done)
		cpu := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", leader.URL, seconds)
		if err := fetchProfile(ctx, cpu, seconds, path); err != nil {
			log.Printf("profile %s: %v", path, err)
			return
		}
		log.Printf("profile: %s (go tool pprof -top %s)", path, path)
		allocs := strings.TrimSuffix(path, ".pprof") + "-allocs.pprof"
		if err := fetchProfile(ctx, leader.URL+"/debug/pprof/allocs", 0, allocs); err != nil {
			log.Printf("profile %s: %v", allocs, err)
		}
	}()
	return func() { <-done }
}

// fetchProfile saves what url answers at path; seconds is how long the
// profile takes to gather.
func fetchProfile(ctx context.Context, url string, seconds int, path string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(seconds+30)*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
