package procrun

import (
	"context"
	"path/filepath"

	"github.com/clusteragent/agent/internal/buildagent"
)

// BuildBinary builds ./cmd/agent of the module the working directory is in
// into dir/agent with the given build tags ("" for none) and returns the
// binary's path; see package buildagent.
func BuildBinary(ctx context.Context, dir, tags string) (string, error) {
	root, err := buildagent.ModuleRoot(ctx)
	if err != nil {
		return "", err
	}
	out, err := filepath.Abs(filepath.Join(dir, "agent"))
	if err != nil {
		return "", err
	}
	return out, buildagent.Binary(ctx, root, out, tags)
}
