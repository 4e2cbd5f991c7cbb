// Package etcdwrap builds etcd and its load driver in a throwaway Go module,
// so the agent's own go.mod never depends on etcd, and runs the driver.
//
// etcd's server module cannot be installed with go install (its go.mod has
// replace directives), but a module that requires it builds its main
// package. The throwaway module requires server/v3, etcdctl/v3 and
// client/v3 at one version, and the agent's module through a replace
// pointing at the working tree, for the load driver (driver_main.go) to
// share the agent side's load, process and report code.
package etcdwrap

import (
	"bufio"
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// DefaultVersion is the etcd release compared against.
const DefaultVersion = "v3.7.3"

// agentModule is the agent's module path, replaced by the working tree.
const agentModule = "github.com/clusteragent/agent"

//go:embed driver_main.go
var driverSource string

// Binaries are what Build produced.
type Binaries struct {
	Etcd    string
	Etcdctl string
	Driver  string
	Version string
}

// Build creates the throwaway module in dir (which must exist and be
// empty; the caller removes it), resolves etcd version through the module
// proxy, and builds etcd, etcdctl and the load driver into dir/bin.
// agentRoot is the agent module's directory. A failing go command's
// output is in the error.
func Build(ctx context.Context, dir, agentRoot, version string) (Binaries, error) {
	goLine, err := goDirective(filepath.Join(agentRoot, "go.mod"))
	if err != nil {
		return Binaries{}, err
	}
	files := map[string]string{
		"go.mod":   goMod(goLine, agentRoot, version),
		"tools.go": toolsGo,
		"main.go":  strings.Replace(driverSource, "//go:build ignore\n", "", 1),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return Binaries{}, fmt.Errorf("etcdwrap: %w", err)
		}
	}
	bin := filepath.Join(dir, "bin")
	b := Binaries{
		Etcd:    filepath.Join(bin, "etcd"),
		Etcdctl: filepath.Join(bin, "etcdctl"),
		Driver:  filepath.Join(bin, "etcdload"),
		Version: version,
	}
	steps := [][]string{
		{"mod", "tidy"},
		{"build", "-trimpath", "-o", b.Etcd, "go.etcd.io/etcd/server/v3"},
		{"build", "-trimpath", "-o", b.Etcdctl, "go.etcd.io/etcd/etcdctl/v3"},
		{"build", "-trimpath", "-o", b.Driver, "."},
	}
	for _, args := range steps {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		// GOWORK=off: a workspace around the temp dir must not leak in.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("etcdwrap: go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return b, nil
}

// goMod is the throwaway module's go.mod.
func goMod(goLine, agentRoot, version string) string {
	return fmt.Sprintf(`module etcdwrap.invalid/bench

go %s

require (
	%s v0.0.0-00010101000000-000000000000
	go.etcd.io/etcd/client/v3 %s
	go.etcd.io/etcd/etcdctl/v3 %s
	go.etcd.io/etcd/server/v3 %s
)

replace %s => %s
`, goLine, agentModule, version, version, version, agentModule, agentRoot)
}

// toolsGo keeps the etcd server and etcdctl requirements through go mod
// tidy, which acts as if every build tag but "ignore" were set.
const toolsGo = `//go:build tools

package main

import (
	_ "go.etcd.io/etcd/etcdctl/v3"
	_ "go.etcd.io/etcd/server/v3"
)
`

// goDirective is the version on the go line of the go.mod at path, so the
// throwaway module asks for no older Go than the agent's.
func goDirective(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("etcdwrap: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "go "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("etcdwrap: no go directive in %s", path)
}
