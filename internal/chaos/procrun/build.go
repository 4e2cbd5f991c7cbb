package procrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildBinary builds ./cmd/agent of the module the working directory is in
// into dir/agent, statically (CGO_ENABLED=0) and with -trimpath, with the
// given build tags (space- or comma-separated; "" for none), and returns the
// binary's path. The go command runs from the module root, bounded by ctx.
func BuildBinary(ctx context.Context, dir, tags string) (string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	out, err := filepath.Abs(filepath.Join(dir, "agent"))
	if err != nil {
		return "", err
	}
	args := []string{"build", "-trimpath"}
	if strings.TrimSpace(tags) != "" {
		args = append(args, "-tags", tags)
	}
	args = append(args, "-o", out, "./cmd/agent")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("procrun: go %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return out, nil
}

// moduleRoot is the directory of the go.mod governing the working directory.
func moduleRoot(ctx context.Context) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "env", "GOMOD")
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("procrun: go env GOMOD: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	gomod := strings.TrimSpace(string(b))
	// Outside any module GOMOD is empty, or os.DevNull with GO111MODULE=auto.
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("procrun: the working directory is not inside the agent's Go module")
	}
	return filepath.Dir(gomod), nil
}
