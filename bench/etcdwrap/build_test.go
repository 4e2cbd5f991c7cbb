package etcdwrap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGoModRequiresEtcdAndReplacesAgent(t *testing.T) {
	m := goMod("1.26.8", "/src/agent", "v3.7.3")
	for _, want := range []string{
		"go 1.26.8",
		"go.etcd.io/etcd/server/v3 v3.7.3",
		"go.etcd.io/etcd/etcdctl/v3 v3.7.3",
		"go.etcd.io/etcd/client/v3 v3.7.3",
		"replace github.com/clusteragent/agent => /src/agent",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("go.mod lacks %q:\n%s", want, m)
		}
	}
}

func TestGoDirective(t *testing.T) {
	path := filepath.Join(t.TempDir(), "go.mod")
	if err := os.WriteFile(path, []byte("module x\n\ngo 1.26.8\n\nrequire y v1.0.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if v, err := goDirective(path); err != nil || v != "1.26.8" {
		t.Errorf("goDirective = %q, %v", v, err)
	}
	if err := os.WriteFile(path, []byte("module x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := goDirective(path); err == nil {
		t.Error("go.mod without a go line accepted")
	}
}

// The driver is built only in the throwaway module; here it must at least
// be embedded, be a main package once its ignore constraint is dropped, and
// share the harness's load code so both sides are measured alike.
func TestDriverSourceEmbedded(t *testing.T) {
	src := strings.Replace(driverSource, "//go:build ignore\n", "", 1)
	if src == driverSource {
		t.Fatal("driver source does not start with the ignore constraint that keeps it out of this module")
	}
	for _, want := range []string{"package main", `"github.com/clusteragent/agent/bench/load"`, `clientv3 "go.etcd.io/etcd/client/v3"`} {
		if !strings.Contains(src, want) {
			t.Errorf("driver source lacks %q", want)
		}
	}
}
