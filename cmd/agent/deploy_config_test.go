package main

import (
	"path/filepath"
	"testing"

	"github.com/clusteragent/agent/agent"
)

// TestDeployConfigsParse reads the HCL files shipped under deploy/ with the
// agent's own parser and validation, so a key renamed in the agent cannot
// leave a broken example behind. The Kubernetes file is what the
// kustomization puts in the ConfigMap (deploy/kubernetes checks that side).
func TestDeployConfigsParse(t *testing.T) {
	for _, f := range []string{"systemd/agent.hcl", "kubernetes/agent.hcl"} {
		path := filepath.Join("..", "..", "deploy", f)
		cfg := agent.DefaultConfig()
		if _, err := loadConfigFile(path, &cfg); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
