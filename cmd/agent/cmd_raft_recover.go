package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/raftnode"
)

const recoverHelp = `Offline outage recovery, for a cluster that lost its quorum for good: on a
STOPPED server, rewrites its Raft configuration to the servers listed with
-peer (default: this server alone, at its last known address), all voters.

Run it on every surviving server with the same -peer list, then start them:
they elect a leader among themselves and serve the data they hold. Entries
a server had in its log but the old cluster never committed become
committed. The autopilot then adds new servers as they join.

It prints the last known configuration and the new one, and rewrites only
after -yes or a "yes" typed on a terminal. It refuses while an agent holds
the data dir, on a data dir with no Raft state, and on a peer list without
this server. See docs/operations.md.`

// cmdRaftRecover is `agent raft recover`: offline, on a data dir.
func (c *cli) cmdRaftRecover(args []string) int {
	fs := newFlagSet("agent raft recover", "-data-dir DIR [-peer ID=HOST:PORT]... [-yes]", recoverHelp)
	dataDir := fs.String("data-dir", "", "`DIR` of the stopped server (required)")
	var peers map[string]string
	fs.Var(&peersFlag{p: &peers}, "peer", "a server of the recovered cluster, `ID=HOST:PORT` (repeatable; default: this server alone)")
	yes := fs.Bool("yes", false, "rewrite without asking")
	pos, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	switch {
	case len(pos) > 0:
		return c.usageError(fs, "unexpected argument %q", pos[0])
	case *dataDir == "":
		return c.usageError(fs, "-data-dir is required")
	}
	srv, err := agent.OpenOfflineServer(*dataDir, nil)
	switch {
	case errors.Is(err, raftnode.ErrDataDirInUse):
		return c.fail(fmt.Errorf("data dir %s is in use: an agent holds it; stop the agent first", *dataDir))
	case errors.Is(err, raftnode.ErrNoRaftState):
		return c.fail(fmt.Errorf("nothing to recover: %w", err))
	case err != nil:
		return c.fail(err)
	}
	defer srv.Close()
	last, err := srv.LastConfiguration()
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "Server %s, last known Raft configuration (index %d):\n", srv.NodeID(), last.Index)
	c.printServers(last.Servers)
	servers, err := agent.PlanRecovery(srv.NodeID(), last, peers)
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintln(c.stdout, "New configuration:")
	c.printServers(servers)
	if !*yes {
		if err := c.confirm(); err != nil {
			return c.fail(err)
		}
	}
	if err := srv.Recover(servers); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "Recovered %s. Run the same command on every other server listed, then start them.\n", *dataDir)
	return exitOK
}

func (c *cli) printServers(servers []raftnode.Server) {
	rows := make([][]string, 0, len(servers))
	for _, s := range servers {
		rows = append(rows, []string{"  " + s.ID, s.Address, s.Suffrage})
	}
	_ = table(c.stdout, "  ID\tADDRESS\tSUFFRAGE", rows)
}

// confirm asks on a terminal; anything but a terminal answering "yes"
// refuses, so a script without -yes never rewrites by accident.
func (c *cli) confirm() error {
	f, ok := c.stdin.(*os.File)
	if !ok || !isTerminal(f) {
		return errors.New("not rewriting the configuration: pass -yes (stdin is not a terminal to confirm on)")
	}
	fmt.Fprint(c.stdout, "Rewrite the Raft configuration? Type yes to continue: ")
	line, _ := bufio.NewReader(f).ReadString('\n')
	if strings.TrimSpace(line) != "yes" {
		return errors.New("not rewriting the configuration: not confirmed")
	}
	return nil
}

// isTerminal reports whether f is a character device (a terminal), not a
// pipe or a file.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
