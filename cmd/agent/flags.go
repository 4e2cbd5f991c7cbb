package main

import (
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/clusteragent/agent/agent"
)

// runFlags are the flags of `agent run`. Each config flag is bound to a
// scratch Config holding the defaults (so -h shows them); after parsing,
// only the flags given explicitly are copied onto the real Config, so a
// flag overrides the file only when the operator set it.
type runFlags struct {
	configFile string
	dev        bool
	scratch    agent.Config
	// bindings maps a flag name to the config key it sets and the copier
	// that moves its value from scratch to the real Config.
	bindings map[string]flagBinding
	set      map[string]bool // flags given explicitly, filled by apply
}

type flagBinding struct {
	key  string
	copy func(dst, src *agent.Config)
}

// bind registers a flag of type T on field, remembering its config key.
func bind[T any](rf *runFlags, name, key string, field func(*agent.Config) *T, register func(p *T, name string, value T, usage string), usage string) {
	p := field(&rf.scratch)
	register(p, name, *p, usage)
	rf.bindings[name] = flagBinding{key: key, copy: func(dst, src *agent.Config) { *field(dst) = *field(src) }}
}

// bindValue registers a flag.Value flag on field.
func bindValue[T any](rf *runFlags, fs *flag.FlagSet, name, key string, field func(*agent.Config) *T, value flag.Value, usage string) {
	fs.Var(value, name, usage)
	rf.bindings[name] = flagBinding{key: key, copy: func(dst, src *agent.Config) { *field(dst) = *field(src) }}
}

func registerRunFlags(fs *flag.FlagSet) *runFlags {
	rf := &runFlags{scratch: agent.DefaultConfig(), bindings: map[string]flagBinding{}}
	fs.StringVar(&rf.configFile, "config", "", "HCL config `FILE`; flags given explicitly override it")
	fs.BoolVar(&rf.dev, "dev", false, "one self-bootstrapping agent on loopback with a temporary data dir, removed on exit")
	bind(rf, "node-id", "node_id", func(c *agent.Config) *string { return &c.NodeID }, fs.StringVar, "node `ID` (default: generated once and kept in the data dir)")
	bind(rf, "data-dir", "data_dir", func(c *agent.Config) *string { return &c.DataDir }, fs.StringVar, "`DIR` for Raft state, snapshots and the node ID")
	bind(rf, "bind", "bind", func(c *agent.Config) *string { return &c.Bind }, fs.StringVar, "`IP` (or go-sockaddr template) the gossip and Raft listeners bind")
	bind(rf, "advertise", "advertise", func(c *agent.Config) *string { return &c.Advertise }, fs.StringVar, "`IP` (or go-sockaddr template) other nodes use to reach this one (default: -bind, or the private IPv4 address)")
	bind(rf, "gossip-port", "ports.gossip", func(c *agent.Config) *int { return &c.Ports.Gossip }, fs.IntVar, "gossip (memberlist) TCP and UDP `PORT`")
	bind(rf, "raft-port", "ports.raft", func(c *agent.Config) *int { return &c.Ports.Raft }, fs.IntVar, "Raft `PORT`")
	bind(rf, "raft-log-store", "raft.log_store", func(c *agent.Config) *string { return &c.Raft.LogStore }, fs.StringVar, "Raft log store for a new data dir: `wal` or boltdb (an existing raft.db or wal/ is kept)")
	bind(rf, "http-addr", "http.addr", func(c *agent.Config) *string { return &c.HTTP.Addr }, fs.StringVar, "HTTP API listen `HOST:PORT`")
	bindValue(rf, fs, "join", "join", func(c *agent.Config) *[]string { return &c.Join }, &stringsFlag{p: &rf.scratch.Join},
		"seed `ADDR` to join: host[:port], srv+NAME (DNS SRV) or a template; names are re-resolved at every attempt (repeatable; replaces join from the file)")
	bind(rf, "bootstrap-expect", "bootstrap_expect", func(c *agent.Config) *int { return &c.BootstrapExpect }, fs.IntVar, "wait for `N` servers in gossip, then form one cluster of them")
	bindValue(rf, fs, "peer", "peers", func(c *agent.Config) *map[string]string { return &c.Peers }, &peersFlag{p: &rf.scratch.Peers},
		"static peer `ID=HOST:PORT` (repeatable; replaces peers from the file)")
	bind(rf, "bootstrap-preferred", "bootstrap_preferred", func(c *agent.Config) *bool { return &c.BootstrapPreferred }, fs.BoolVar, "this node bootstraps the cluster")
	bind(rf, "no-bootstrap", "no_bootstrap", func(c *agent.Config) *bool { return &c.NoBootstrap }, fs.BoolVar, "never bootstrap; wait to be added (join-only)")
	bind(rf, "server", "server", func(c *agent.Config) *bool { return &c.Server }, fs.BoolVar, "be a Raft server; -server=false makes a gossip-only member")
	bind(rf, "zone", "zone", func(c *agent.Config) *string { return &c.Zone }, fs.StringVar, "failure domain `NAME`; voters are spread across zones")
	bind(rf, "encrypt", "gossip.encrypt", func(c *agent.Config) *string { return &c.Gossip.Encrypt }, fs.StringVar, "base64 gossip encryption `KEY` (see agent keygen)")
	bind(rf, "log-level", "log_level", func(c *agent.Config) *string { return &c.LogLevel }, fs.StringVar, "log `LEVEL`: trace, debug, info, warn, error")
	bind(rf, "log-json", "log_json", func(c *agent.Config) *bool { return &c.LogJSON }, fs.BoolVar, "log JSON lines")
	bind(rf, "leave-on-terminate", "leave_on_terminate", func(c *agent.Config) *bool { return &c.LeaveOnTerminate }, fs.BoolVar, "on SIGINT/SIGTERM leave gossip and Raft instead of keeping this node's place")
	return rf
}

// apply copies the explicitly set flags onto cfg and records which they were.
func (rf *runFlags) apply(fs *flag.FlagSet, cfg *agent.Config) {
	rf.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		if b, ok := rf.bindings[f.Name]; ok {
			b.copy(cfg, &rf.scratch)
			rf.set[f.Name] = true
		}
	})
}

// flagFor returns the explicitly set flag that sets key, or "".
func (rf *runFlags) flagFor(key string) string {
	names := make([]string, 0, len(rf.set))
	for name := range rf.set {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if rf.bindings[name].key == key {
			return name
		}
	}
	return ""
}

// stringsFlag is a repeatable string flag. The first use replaces the
// default, later ones append.
type stringsFlag struct {
	p   *[]string
	set bool
}

func (f *stringsFlag) String() string {
	if f == nil || f.p == nil {
		return ""
	}
	return strings.Join(*f.p, ",")
}

func (f *stringsFlag) Set(v string) error {
	if v == "" {
		return fmt.Errorf("empty address")
	}
	if !f.set {
		*f.p, f.set = nil, true
	}
	*f.p = append(*f.p, v)
	return nil
}

// peersFlag is the repeatable -peer ID=HOST:PORT flag.
type peersFlag struct {
	p   *map[string]string
	set bool
}

func (f *peersFlag) String() string {
	if f == nil || f.p == nil {
		return ""
	}
	pairs := make([]string, 0, len(*f.p))
	for id, addr := range *f.p {
		pairs = append(pairs, id+"="+addr)
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

func (f *peersFlag) Set(v string) error {
	id, addr, ok := strings.Cut(v, "=")
	if !ok || id == "" || addr == "" {
		return fmt.Errorf("want ID=HOST:PORT")
	}
	if !f.set || *f.p == nil {
		*f.p, f.set = map[string]string{}, true
	}
	if prev, dup := (*f.p)[id]; dup {
		return fmt.Errorf("peer %q given twice (%s and %s)", id, prev, addr)
	}
	(*f.p)[id] = addr
	return nil
}
