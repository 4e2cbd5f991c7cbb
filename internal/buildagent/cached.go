package buildagent

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// buildTimeout bounds one build: a cold build on a loaded machine takes a
// minute or two.
const buildTimeout = 5 * time.Minute

// cache holds one build per Options for the life of the process, so every
// test of a test binary shares it; Cleanup removes them.
var cache struct {
	mu     sync.Mutex
	dir    string
	builds map[Options]*build
}

type build struct {
	once sync.Once
	path string
	err  error
}

// Cached builds the agent of the module the working directory is in with
// options o, once per process and o, and returns the binary's path. The
// binaries live in one temp dir until Cleanup; a failed build is not
// retried, so every caller gets the same error.
func Cached(o Options) (string, error) {
	cache.mu.Lock()
	if cache.builds == nil {
		cache.builds = map[Options]*build{}
	}
	b := cache.builds[o]
	if b == nil {
		b = &build{}
		cache.builds[o] = b
	}
	if cache.dir == "" {
		d, err := os.MkdirTemp("", "agent-bin-")
		if err != nil {
			cache.mu.Unlock()
			return "", err
		}
		cache.dir = d
	}
	parent := cache.dir
	cache.mu.Unlock()
	b.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		root, err := ModuleRoot(ctx)
		var dir string
		if err == nil {
			dir, err = os.MkdirTemp(parent, "build-")
		}
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "agent")
		b.err = BinaryWith(ctx, root, b.path, o)
	})
	return b.path, b.err
}

// For is Cached for a test: it skips the test in -short mode (a build
// takes too long for it) and fails it when the build fails. A TestMain
// calls Cleanup after m.Run.
func For(t testing.TB, o Options) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the agent binary")
	}
	path, err := Cached(o)
	if err != nil {
		t.Fatalf("building the agent: %v", err)
	}
	return path
}

// Cleanup removes every binary Cached built; the next Cached builds anew.
func Cleanup() error {
	cache.mu.Lock()
	defer cache.mu.Unlock()
	if cache.dir == "" {
		return nil
	}
	err := os.RemoveAll(cache.dir)
	cache.dir, cache.builds = "", nil
	return err
}
