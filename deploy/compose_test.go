package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/buildagent"
)

// Bounds for the external commands: none of them may hang the test run.
const (
	probeTimeout   = 15 * time.Second
	goBuildTimeout = 4 * time.Minute // a cold module cache on a small machine
	imageTimeout   = 2 * time.Minute
	upTimeout      = 2 * time.Minute
	execTimeout    = 15 * time.Second
	// downTimeout covers the containers' stop grace (downStopSeconds) plus
	// removing them, the network and the volumes.
	downTimeout     = 90 * time.Second
	downStopSeconds = "10"
)

// run runs name with args in dir and returns its stdout. The error names
// the command and carries its stderr, so a failure explains itself.
func run(ctx context.Context, timeout time.Duration, dir string, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	// After a kill, do not wait for grandchildren holding the pipes open.
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s: %w", timeout, ctx.Err())
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\nstdout: %s\nstderr: %s", name, strings.Join(args, " "),
			err, strings.TrimSpace(stdout.String()), strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// requireDocker skips the test unless a Docker engine answers and a compose
// CLI exists. It returns the compose command: docker-compose, or the
// "docker compose" plugin when only that is installed.
func requireDocker(t *testing.T) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("docker quick-start test skipped in -short mode")
	}
	ctx := t.Context()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skipf("docker engine not available: %v", err)
	}
	if _, err := run(ctx, probeTimeout, "", os.Environ(), "docker", "version", "--format", "{{.Server.Version}}"); err != nil {
		t.Skipf("docker engine not available: %v", err)
	}
	if _, err := run(ctx, probeTimeout, "", os.Environ(), "docker-compose", "version"); err == nil {
		return []string{"docker-compose"}
	}
	if _, err := run(ctx, probeTimeout, "", os.Environ(), "docker", "compose", "version"); err == nil {
		return []string{"docker", "compose"}
	}
	t.Skip("docker-compose not available: neither docker-compose nor the docker compose plugin answers")
	return nil
}

// randomID makes the image tag and project name unique per run, so
// concurrent runs and leftovers of a killed run never collide.
func randomID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random id: %v", err)
	}
	return hex.EncodeToString(b)
}

// repoRoot is the module root: the test runs in deploy/.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatalf("repository root: %v", err)
	}
	for _, f := range []string{"go.mod", "Dockerfile", ".dockerignore", "docker-compose.yml"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Fatalf("repository root %s: %v", root, err)
		}
	}
	return root
}

// buildImage builds a static agent into a fresh build context holding the
// repository's Dockerfile and .dockerignore, so the test neither touches
// bin/ nor depends on an earlier make build, and tags the image tag. The
// tag is removed when the test ends.
func buildImage(t *testing.T, root, tag string) {
	t.Helper()
	ctxDir := t.TempDir()
	for _, f := range []string{"Dockerfile", ".dockerignore"} {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatalf("build context: %v", err)
		}
		if err := os.WriteFile(filepath.Join(ctxDir, f), data, 0o644); err != nil {
			t.Fatalf("build context: %v", err)
		}
	}
	bin := filepath.Join(ctxDir, "bin", "agent")
	bctx, cancel := context.WithTimeout(t.Context(), goBuildTimeout)
	defer cancel()
	if err := buildagent.Binary(bctx, root, bin, ""); err != nil {
		t.Fatalf("building the agent: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background() // the test's context is already cancelled here
		// "No such image": the build failed before tagging; nothing to remove.
		if _, err := run(ctx, imageTimeout, "", os.Environ(), "docker", "image", "rm", tag); err != nil && !strings.Contains(err.Error(), "No such image") {
			t.Errorf("removing image %s: %v", tag, err)
		}
		// The Dockerfile's first stage, which the classic builder keeps as
		// an untagged image of its own; labelled so it can go too.
		if _, err := run(ctx, imageTimeout, "", os.Environ(), "docker", "image", "prune", "-f", "--filter", "label="+dirsStageLabel); err != nil {
			t.Errorf("removing the build's intermediate stage: %v", err)
		}
	})
	if _, err := run(t.Context(), imageTimeout, ctxDir, os.Environ(), "docker", "build", "-q", "-t", tag, "."); err != nil {
		t.Fatalf("building image %s: %v", tag, err)
	}
}

// dirsStageLabel marks the Dockerfile's first stage (see Dockerfile).
const dirsStageLabel = "io.clusteragent.stage=dirs"

// project is one docker-compose project of the repository's compose file.
type project struct {
	compose []string // the compose command and its leading arguments
	file    string
	name    string
	env     []string
}

func (p *project) run(ctx context.Context, timeout time.Duration, args ...string) (string, error) {
	all := append(append([]string{}, p.compose[1:]...), "-f", p.file, "-p", p.name)
	return run(ctx, timeout, filepath.Dir(p.file), p.env, p.compose[0], append(all, args...)...)
}

// exec runs an agent subcommand inside a service's container; the scratch
// image has no shell, only /agent.
func (p *project) exec(ctx context.Context, service string, args ...string) (string, error) {
	return p.run(ctx, execTimeout, append([]string{"exec", "-T", service, "/agent"}, args...)...)
}

// up starts the project and registers its teardown: on failure the agents'
// logs are printed first, then containers, network and volumes go.
func (p *project) up(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		ctx := context.Background() // the test's context is already cancelled here
		if t.Failed() {
			logs, err := p.run(ctx, execTimeout, "logs", "--no-color", "--timestamps", "--tail=200")
			t.Logf("docker-compose logs (error: %v):\n%s", err, logs)
		}
		if _, err := p.run(ctx, downTimeout, "down", "-v", "--remove-orphans", "-t", downStopSeconds); err != nil {
			t.Errorf("tearing down project %s: %v", p.name, err)
		}
	})
	if _, err := p.run(t.Context(), upTimeout, "up", "-d", "--no-build"); err != nil {
		t.Fatalf("starting project %s: %v", p.name, err)
	}
}
