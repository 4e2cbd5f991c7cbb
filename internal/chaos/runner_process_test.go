package chaos_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/chaos"
	"github.com/clusteragent/agent/internal/chaos/procrun"
)

// binary is the agent built once per test binary for the process runner.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func agentBinary(tags string) (string, error) {
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "chaos-agent-bin-")
		if binary.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		binary.path, binary.err = procrun.BuildBinary(ctx, binary.dir, tags)
	})
	return binary.path, binary.err
}

func init() {
	runners["process"] = func(t *testing.T, cfg suiteConfig, seed uint64, store, logDir string) (chaos.Cluster, string) {
		if testing.Short() {
			return nil, "process runs skipped in -short mode"
		}
		bin, err := agentBinary(cfg.buildTags)
		if err != nil {
			t.Fatalf("building the agent: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c, err := procrun.Start(ctx, procrun.Options{Binary: bin, Dir: t.TempDir(), Servers: 3, LogStore: store, Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		return c, ""
	}
	cleanups = append(cleanups, func() {
		if binary.dir != "" {
			os.RemoveAll(binary.dir)
		}
	})
}
