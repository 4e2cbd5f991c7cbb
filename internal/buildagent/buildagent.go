// Package buildagent builds the agent binary from this module's source, for
// every test, chaos runner and benchmark that runs it as processes or inside
// images: statically (CGO_ENABLED=0, so it runs in a scratch image) and with
// -trimpath, as a release is built. It is the one place the module builds
// its own binary: Binary for a build into a given file, Cached (and For, in
// tests) for one build per options per test process.
package buildagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ModuleRoot is the directory of the go.mod governing the working directory
// (a test's working directory is its package's, inside the module).
func ModuleRoot(ctx context.Context) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "env", "GOMOD")
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("buildagent: go env GOMOD: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	gomod := strings.TrimSpace(string(b))
	// Outside any module GOMOD is empty, or os.DevNull with GO111MODULE=auto.
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("buildagent: the working directory is not inside the agent's Go module")
	}
	return filepath.Dir(gomod), nil
}

// Binary builds ./cmd/agent of the module at root into the file out, with
// the given build tags (space- or comma-separated; "" for none), bounded by
// ctx. The error carries the compiler's output.
func Binary(ctx context.Context, root, out, tags string) error {
	return BinaryWith(ctx, root, out, Options{Tags: tags})
}

// Options are what may differ between two builds of the agent.
type Options struct {
	// Tags are the build tags, space- or comma-separated; "" for none.
	Tags string
	// Version, when set, is stamped into agent.Version through -ldflags,
	// as a release build does.
	Version string
}

// buildArgs are the go command's arguments that build ./cmd/agent into out.
func buildArgs(out string, o Options) []string {
	args := []string{"build", "-trimpath"}
	if strings.TrimSpace(o.Tags) != "" {
		args = append(args, "-tags", o.Tags)
	}
	if o.Version != "" {
		args = append(args, "-ldflags", "-X github.com/clusteragent/agent/agent.Version="+o.Version)
	}
	return append(args, "-o", out, "./cmd/agent")
}

// BinaryWith is Binary with every build option.
func BinaryWith(ctx context.Context, root, out string, o Options) error {
	args := buildArgs(out, o)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	// After a cancel, do not wait for the compiler's children holding the pipe.
	cmd.WaitDelay = 5 * time.Second
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("buildagent: go %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}
