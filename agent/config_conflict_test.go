package agent

import (
	"strings"
	"testing"
)

func TestExpectConflictNamesWhatWasSet(t *testing.T) {
	dev := DevConfig()
	dev.BootstrapExpect = 3
	peers := DefaultConfig()
	peers.BootstrapExpect, peers.Peers = 3, map[string]string{"a": "127.0.0.1:7000"}
	both := peers
	both.BootstrapPreferred = true
	pref := DefaultConfig()
	pref.BootstrapExpect, pref.BootstrapPreferred = 3, true
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"dev":                 {dev, "bootstrap_expect: cannot be combined with -dev (one self-bootstrapping agent)"},
		"peers":               {peers, "bootstrap_expect: cannot be combined with peers"},
		"peers and preferred": {both, "cannot be combined with peers and bootstrap_preferred"},
		"preferred":           {pref, "bootstrap_expect: cannot be combined with bootstrap_preferred"},
	} {
		t.Run(name, func(t *testing.T) {
			c := tc.cfg
			c.DataDir = t.TempDir()
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}
