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

func TestBuildArgs(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{}, "build -trimpath -o out ./cmd/agent"},
		{Options{Tags: "a b"}, "build -trimpath -tags a b -o out ./cmd/agent"},
		{Options{Tags: "  "}, "build -trimpath -o out ./cmd/agent"},
		{Options{Version: "1.2.3"}, "build -trimpath -ldflags -X github.com/clusteragent/agent/agent.Version=1.2.3 -o out ./cmd/agent"},
	} {
		if got := strings.Join(buildArgs("out", tc.o), " "); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.o, got, tc.want)
		}
	}
}

// Cached builds once per options: a second call answers the same file
// without building again.
func TestCachedBuildsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent")
	}
	t.Cleanup(func() {
		if err := Cleanup(); err != nil {
			t.Error(err)
		}
	})
	first := For(t, Options{Version: "0.0.1-cache"})
	st, err := os.Stat(first)
	if err != nil {
		t.Fatal(err)
	}
	again := For(t, Options{Version: "0.0.1-cache"})
	st2, err := os.Stat(again)
	if err != nil {
		t.Fatal(err)
	}
	if again != first || !st2.ModTime().Equal(st.ModTime()) {
		t.Fatalf("second call: %s (%v), first %s (%v): built twice", again, st2.ModTime(), first, st.ModTime())
	}
}
