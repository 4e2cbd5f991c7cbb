package chaos_test

import (
	"context"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/chaos"
	"github.com/clusteragent/agent/internal/chaos/dockerrun"
)

// image is the agent image built once per test binary for the Docker runner.
var image struct {
	once   sync.Once
	name   string
	remove func() error
	err    error
}

func agentImage(tags string) (string, error) {
	image.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		image.name, image.remove, image.err = dockerrun.BuildImage(ctx, dockerrun.BuildOptions{Tags: tags})
	})
	return image.name, image.err
}

// dockerAnswers reports whether a Docker engine answers, within a bound.
func dockerAnswers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").Run() == nil
}

func init() {
	runners["docker"] = func(t *testing.T, cfg suiteConfig, seed uint64, store, logDir string) (chaos.Cluster, string) {
		if testing.Short() {
			return nil, "container runs skipped in -short mode"
		}
		if !dockerAnswers() {
			return nil, "container runs skipped: no Docker engine answers `docker version`"
		}
		img, err := agentImage(cfg.buildTags)
		if err != nil {
			t.Fatalf("building the agent image: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		c, err := dockerrun.Start(ctx, dockerrun.Options{Image: img, Servers: 3, LogStore: store, Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		return c, ""
	}
	cleanups = append(cleanups, func() {
		if image.remove != nil {
			_ = image.remove()
		}
	})
}
