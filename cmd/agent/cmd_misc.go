package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/clusteragent/agent/agent"
)

// gossipKeyBytes is the size of keys keygen makes: AES-256.
const gossipKeyBytes = 32

func (c *cli) cmdKeygen(args []string) int {
	fs := newFlagSet("agent keygen", "", "Prints a new random 32-byte gossip encryption key, base64 encoded, for\n-encrypt or gossip.encrypt. Every agent of a cluster needs the same key.")
	pos, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.usageError(fs, "unexpected argument %q", pos[0])
	}
	key := make([]byte, gossipKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return c.fail(fmt.Errorf("reading random bytes: %w", err))
	}
	fmt.Fprintln(c.stdout, base64.StdEncoding.EncodeToString(key))
	return exitOK
}

// versionedLibraries are the libraries whose versions matter when reporting
// a cluster bug.
var versionedLibraries = []string{
	"github.com/hashicorp/raft",
	"github.com/hashicorp/memberlist",
	"github.com/hashicorp/raft-autopilot",
	"github.com/hashicorp/raft-boltdb/v2",
}

// versionInfo is the -json form of agent version.
type versionInfo struct {
	Version   string            `json:"version"`
	Go        string            `json:"go"`
	Libraries map[string]string `json:"libraries"`
}

func (c *cli) cmdVersion(args []string) int {
	fs := newFlagSet("agent version", "[-json]", "Prints the agent's version, the Go version it was built with and the versions\nof its Raft, gossip and autopilot libraries.")
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.usageError(fs, "unexpected argument %q", pos[0])
	}
	info := versionInfo{Version: agent.Version, Go: runtime.Version(), Libraries: libraryVersions()}
	if *jsonOut {
		out, _ := json.MarshalIndent(info, "", "  ")
		fmt.Fprintln(c.stdout, string(out))
		return exitOK
	}
	fmt.Fprintf(c.stdout, "agent %s\n", info.Version)
	fmt.Fprintf(c.stdout, "go %s\n", info.Go)
	rows := make([][]string, 0, len(versionedLibraries))
	for _, lib := range versionedLibraries {
		rows = append(rows, []string{lib, info.Libraries[lib]})
	}
	_ = table(c.stdout, "LIBRARY\tVERSION", rows)
	return exitOK
}

func libraryVersions() map[string]string {
	out := make(map[string]string, len(versionedLibraries))
	for _, lib := range versionedLibraries {
		out[lib] = "unknown"
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return out
	}
	for _, dep := range bi.Deps {
		if _, want := out[dep.Path]; !want {
			continue
		}
		v := dep.Version
		if dep.Replace != nil {
			v = dep.Replace.Version + " (replaced by " + dep.Replace.Path + ")"
		}
		out[dep.Path] = v
	}
	return out
}
