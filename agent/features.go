package agent

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/agent/kv"
	"github.com/clusteragent/agent/raftnode"
)

// Feature gate for mixed versions.
//
// A log command that an older server cannot apply must not be proposed
// while such a server is in the Raft configuration: that server would
// refuse it and keep its old state while the others move on, and the
// replicas would diverge. So each version gossips the features it has
// (discovery.Meta.Features), and the leader proposes a command that needs
// a feature only once every server in the configuration advertises it.
// Until then such a write answers 503 and names the servers lacking it.
// A server the leader has no gossip for counts as lacking: an unknown
// version is not assumed to be a new one.

// Feature bits; a bit once assigned keeps its meaning.
const (
	// featureLeases: applies lease grants and revokes and puts attached to
	// a lease (kv.NeedsLeases).
	featureLeases uint64 = 1 << iota
)

// localFeatures is every feature this version has.
const localFeatures = featureLeases

// featureNames names the feature bits in errors.
var featureNames = map[uint64]string{featureLeases: "leases"}

// requiredFeatures returns the features every server must have before m
// may be proposed.
func requiredFeatures(m raftnode.Mutation) uint64 {
	if kv.NeedsLeases(m) {
		return featureLeases
	}
	return 0
}

// serversLacking returns, sorted, the servers that do not advertise every
// feature in need. advertised holds what gossip shows for each server it
// knows; a server it does not hold lacks everything.
func serversLacking(servers []string, advertised map[string]uint64, need uint64) []string {
	if need == 0 {
		return nil
	}
	var out []string
	for _, id := range servers {
		if f, ok := advertised[id]; !ok || f&need != need {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// featureList names the bits of f.
func featureList(f uint64) string {
	var names []string
	for bit, name := range featureNames {
		if f&bit != 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// checkFeatures answers nil when every server in the Raft configuration
// advertises the features m needs, and a 503 naming those that do not
// otherwise. Only commands that need a feature pay for the look-up.
func (a *Agent) checkFeatures(ctx context.Context, m raftnode.Mutation) error {
	need := requiredFeatures(m)
	if need == 0 {
		return nil
	}
	conf, err := a.raft.GetConfiguration(ctx)
	if err != nil {
		return a.mapWriteErr(err, "feature check")
	}
	ids := make([]string, 0, len(conf.Servers))
	advertised := make(map[string]uint64, len(conf.Servers))
	for _, s := range conf.Servers {
		ids = append(ids, s.ID)
		if s.ID == a.NodeID() {
			advertised[s.ID] = a.features()
		} else if mem, ok := a.gossip.Member(s.ID); ok {
			advertised[s.ID] = mem.Meta.Features
		}
	}
	if lacking := serversLacking(ids, advertised, need); len(lacking) > 0 {
		return fmt.Errorf("%w: %s need every server to support them; not yet advertised by %s (upgrade them first)",
			httpapi.ErrUnavailable, featureList(need), strings.Join(lacking, ", "))
	}
	return nil
}

// features returns what this node advertises: localFeatures unless a test
// made it pose as an older version.
func (a *Agent) features() uint64 {
	if f := a.featureOverride.Load(); f != nil {
		return *f
	}
	return localFeatures
}
