package chaos_test

import (
	"context"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/buildagent"
	"github.com/clusteragent/agent/internal/chaos"
	"github.com/clusteragent/agent/internal/chaos/procrun"
)

func init() {
	runners["process"] = func(t *testing.T, cfg suiteConfig, seed uint64, store, logDir string) (chaos.Cluster, string) {
		if testing.Short() {
			return nil, "process runs skipped in -short mode"
		}
		bin, err := buildagent.Cached(buildagent.Options{Tags: cfg.buildTags})
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
	cleanups = append(cleanups, func() { _ = buildagent.Cleanup() })
}
