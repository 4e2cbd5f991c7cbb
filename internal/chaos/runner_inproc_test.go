package chaos_test

import (
	"testing"

	"github.com/clusteragent/agent/internal/chaos"
	"github.com/clusteragent/agent/internal/chaos/inproc"
)

func init() {
	runners["inproc"] = func(t *testing.T, cfg suiteConfig, seed uint64, store, logDir string) (chaos.Cluster, string) {
		if cfg.buildTags != "" && !biteCompiledIn(cfg.buildTags) {
			return nil, "in-process runs use the test binary's own build tags; pass -tags " + cfg.buildTags
		}
		c, err := inproc.Start(t, inproc.Options{Servers: 3, Seed: int64(seed), LogDir: logDir, LogStore: store})
		if err != nil {
			t.Fatal(err)
		}
		return c, ""
	}
}
