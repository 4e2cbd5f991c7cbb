package buildagent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestModuleRootIsTheAgentModule(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root, err := ModuleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "module github.com/clusteragent/agent\n") {
		t.Fatalf("%s/go.mod is not the agent's: %.60q", root, b)
	}
}

// A failed build must say why: the error carries the compiler's output.
func TestBinaryReportsTheCompilerOutput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Binary(ctx, t.TempDir(), filepath.Join(t.TempDir(), "agent"), "")
	if err == nil || !strings.Contains(err.Error(), "go build") || !strings.Contains(err.Error(), "go.mod") {
		t.Fatalf("building outside a module: got %v, want the go command's complaint", err)
	}
}
