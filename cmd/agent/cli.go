package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/hashicorp/go-hclog"

	"github.com/clusteragent/agent/agent"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// cli holds everything a command touches outside itself, so tests can swap
// the environment, the agent constructor, the signal source and the working
// directory without package-level state.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// dir is where tls commands read and write files ("" = the current directory).
	dir string
	// newAgent builds the agent `agent run` starts.
	newAgent func(agent.Config, hclog.Logger) (runningAgent, error)
	// notify routes the process signals `agent run` handles to ch and
	// returns a function that stops doing so.
	notify func(ch chan<- os.Signal) (stop func())
	// quiet is `agent run`'s log filter (see stopLog); nil before run.
	quiet *stopLog
}

func newCLI(stdin io.Reader, stdout, stderr io.Writer) *cli {
	c := &cli{
		stdin:  stdin,
		stdout: stdout,
		stderr: stderr,
		getenv: os.Getenv,
		notify: func(ch chan<- os.Signal) func() {
			signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
			return func() { signal.Stop(ch) }
		},
	}
	c.newAgent = func(cfg agent.Config, logger hclog.Logger) (runningAgent, error) {
		return newAgent(cfg, logger, c.quiet)
	}
	return c
}

// command is a node of the command tree: a leaf with run, or a group with subs.
type command struct {
	name     string
	synopsis string
	run      func(c *cli, args []string) int
	subs     []*command
}

func commands() []*command {
	return []*command{
		{name: "run", synopsis: "Run an agent until SIGINT or SIGTERM", run: (*cli).cmdRun},
		{name: "members", synopsis: "List gossip members", run: (*cli).cmdMembers},
		{name: "raft", synopsis: "Inspect and change the Raft configuration and log store", subs: []*command{
			{name: "peers", synopsis: "List the Raft servers", run: (*cli).cmdRaftPeers},
			{name: "remove-peer", synopsis: "Remove a server from the Raft configuration", run: (*cli).cmdRaftRemovePeer},
			{name: "transfer-leadership", synopsis: "Hand leadership to another voter", run: (*cli).cmdRaftTransfer},
			{name: "migrate-store", synopsis: "Convert a stopped agent's Raft log store (wal, boltdb) in place", run: (*cli).cmdRaftMigrateStore},
			{name: "recover", synopsis: "Rewrite a stopped server's Raft configuration after losing quorum (offline)", run: (*cli).cmdRaftRecover},
		}},
		{name: "autopilot", synopsis: "Inspect autopilot", subs: []*command{
			{name: "state", synopsis: "Show cluster health as autopilot sees it", run: (*cli).cmdAutopilotState},
		}},
		{name: "kv", synopsis: "Read and write the replicated key/value store", subs: kvCommands()},
		{name: "snapshot", synopsis: "Save, restore and inspect snapshots of the cluster's state", subs: snapshotCommands()},
		{name: "lock", synopsis: "Run a command while holding a cluster-wide lock", run: (*cli).cmdLock},
		{name: "lease", synopsis: "Grant, renew, revoke and show leases (TTLs for keys)", subs: leaseCommands()},
		{name: "leave", synopsis: "Make the agent leave the cluster gracefully and exit", run: (*cli).cmdLeave},
		{name: "reload", synopsis: "Make the agent reload its TLS certificate, key and CA", run: (*cli).cmdReload},
		{name: "keygen", synopsis: "Print a new gossip encryption key", run: (*cli).cmdKeygen},
		{name: "keyring", synopsis: "List, install, use and remove gossip keys on every member", subs: keyringCommands()},
		{name: "tls", synopsis: "Create a private CA and node certificates", subs: []*command{
			{name: "ca", synopsis: "Manage the CA", subs: []*command{
				{name: "create", synopsis: "Create agent-ca.pem and agent-ca-key.pem", run: (*cli).cmdTLSCACreate},
			}},
			{name: "cert", synopsis: "Manage node certificates", subs: []*command{
				{name: "create", synopsis: "Create ID.pem and ID-key.pem signed by the CA", run: (*cli).cmdTLSCertCreate},
			}},
		}},
		{name: "version", synopsis: "Print the version and library versions", run: (*cli).cmdVersion},
	}
}

// dispatch runs the command named by args.
func (c *cli) dispatch(args []string) int {
	if len(args) > 0 && (args[0] == "-version" || args[0] == "--version") {
		return c.cmdVersion(args[1:])
	}
	return c.dispatchGroup("agent", commands(), args)
}

func (c *cli) dispatchGroup(path string, subs []*command, args []string) int {
	if len(args) == 0 {
		fmt.Fprintf(c.stderr, "%s: missing command (one of %s); see '%s -h'\n", path, commandNames(subs), path)
		return exitUsage
	}
	if isHelp(args[0]) {
		c.printGroupHelp(path, subs)
		return exitOK
	}
	if strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(c.stderr, "%s: flag provided but not defined: %s; see '%s -h'\n", path, args[0], path)
		return exitUsage
	}
	for _, cmd := range subs {
		if cmd.name != args[0] {
			continue
		}
		if cmd.run != nil {
			return cmd.run(c, args[1:])
		}
		return c.dispatchGroup(path+" "+cmd.name, cmd.subs, args[1:])
	}
	fmt.Fprintf(c.stderr, "%s: unknown command %q (one of %s); see '%s -h'\n", path, args[0], commandNames(subs), path)
	return exitUsage
}

func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "--h", "help":
		return true
	}
	return false
}

func commandNames(subs []*command) string {
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (c *cli) printGroupHelp(path string, subs []*command) {
	fmt.Fprintf(c.stdout, "Usage: %s <command> [flags] [args]\n\nCommands:\n", path)
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 3, ' ', 0)
	for _, s := range subs {
		fmt.Fprintf(tw, "  %s\t%s\n", s.name, s.synopsis)
	}
	_ = tw.Flush()
	fmt.Fprintf(c.stdout, "\nRun '%s <command> -h' for a command's flags.\n", path)
}

// flagSet is a command's flags plus what -h prints about it.
type flagSet struct {
	*flag.FlagSet
	path  string // "agent raft peers"
	usage string // arguments synopsis: "[-json]"
	help  string // what the command does
}

func newFlagSet(path, usage, help string) *flagSet {
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	// The flag package would print the whole usage on every error; we print
	// one line on errors and the usage only when asked.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, path: path, usage: usage, help: help}
}

// parse parses args, letting flags and positional arguments mix
// ("remove-peer n3 -http-addr X"). ok is false when the caller must return
// code: after -h (0) or a bad flag (2).
func (c *cli) parse(fs *flagSet, args []string) (positional []string, code int, ok bool) {
	positional, err := parseInterspersed(fs.FlagSet, args)
	if errors.Is(err, flag.ErrHelp) {
		c.printHelp(fs)
		return nil, exitOK, false
	}
	if err != nil {
		return nil, c.usageError(fs, "%v", err), false
	}
	return positional, 0, true
}

func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		// After "--" everything is positional.
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// usageError prints one line naming the command and returns exitUsage.
func (c *cli) usageError(fs *flagSet, format string, args ...any) int {
	fmt.Fprintf(c.stderr, "%s: %s; see '%s -h'\n", fs.path, fmt.Sprintf(format, args...), fs.path)
	return exitUsage
}

func (c *cli) printHelp(fs *flagSet) {
	fmt.Fprintf(c.stdout, "Usage: %s %s\n\n%s\n", fs.path, fs.usage, fs.help)
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintf(c.stdout, "\nFlags:\n")
		fs.SetOutput(c.stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

// fail prints "agent: <err>" and returns exitFail.
func (c *cli) fail(err error) int {
	fmt.Fprintf(c.stderr, "agent: %v\n", err)
	return exitFail
}

// table writes aligned columns; cells are tab-separated.
func table(w io.Writer, header string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// orDash shows an empty cell as "-" so columns stay readable.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
