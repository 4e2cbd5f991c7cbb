package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/clusteragent/agent/raftnode"
)

const migrateStoreHelp = `Converts the Raft log and stable state (term and vote) of a STOPPED agent's
data dir to another log store, in place. Snapshots are shared and untouched.

The current store is copied into raft.db.tmp or wal.tmp, the copy is verified
entry by entry (index, term, type, data, extensions, append time) along with
the term and vote, and only then does it replace the current store, which is
kept as raft.db.backup or wal.backup until the agent next starts
successfully. If the command is interrupted, run it again: it starts over,
or finishes a migration that stopped between its two renames.

It refuses while an agent holds the data dir. Migrate a live cluster one
server at a time; see docs/log-store.md.`

// cmdRaftMigrateStore is `agent raft migrate-store`: an offline command that
// works on a data dir, not through an agent's API.
func (c *cli) cmdRaftMigrateStore(args []string) int {
	fs := newFlagSet("agent raft migrate-store", "-data-dir DIR -to wal|boltdb", migrateStoreHelp)
	dataDir := fs.String("data-dir", "", "`DIR` of the stopped agent (required)")
	to := fs.String("to", "", "log store to convert to: `wal` or boltdb (required)")
	pos, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	switch {
	case len(pos) > 0:
		return c.usageError(fs, "unexpected argument %q", pos[0])
	case *dataDir == "":
		return c.usageError(fs, "-data-dir is required")
	case *to == "":
		return c.usageError(fs, "-to is required (%s or %s)", raftnode.LogStoreWAL, raftnode.LogStoreBoltDB)
	case *to != raftnode.LogStoreWAL && *to != raftnode.LogStoreBoltDB:
		return c.usageError(fs, "-to must be %s or %s, got %q", raftnode.LogStoreWAL, raftnode.LogStoreBoltDB, *to)
	}

	// SIGINT or SIGTERM cancels the copy; the half-written copy is removed
	// and the data dir is left as it was.
	ctx, stop := c.cancelOnSignal()
	defer stop()
	rep, err := raftnode.MigrateStore(ctx, *dataDir, *to, func(msg string) {
		fmt.Fprintln(c.stdout, strings.TrimSpace(msg))
	})
	switch {
	case errors.Is(err, raftnode.ErrAlreadyOnStore):
		fmt.Fprintf(c.stdout, "%s already uses the %s log store; nothing to do.\n", *dataDir, *to)
		return exitOK
	case errors.Is(err, raftnode.ErrDataDirInUse):
		return c.fail(fmt.Errorf("data dir %s is in use: an agent (or another migrate-store) holds it; stop the agent first", *dataDir))
	case err != nil:
		return c.fail(err)
	}
	c.printMigrateSummary(*dataDir, rep)
	return exitOK
}

// printMigrateSummary tells the operator what changed and what is left to
// do.
func (c *cli) printMigrateSummary(dataDir string, rep raftnode.MigrateReport) {
	verb := "Migrated"
	if rep.Resumed {
		verb = "Finished the interrupted migration of"
	}
	fmt.Fprintf(c.stdout, "%s %s from %s to %s in %s.\n", verb, dataDir, rep.From, rep.To, rep.Duration.Round(time.Millisecond))
	if rep.Entries == 0 {
		fmt.Fprintf(c.stdout, "Copied the term and vote; the log was empty (its state is all in the snapshot).\n")
	} else {
		fmt.Fprintf(c.stdout, "Copied and verified %d log entries, index %d to %d (%d bytes of entry data), and the term and vote.\n",
			rep.Entries, rep.FirstIndex, rep.LastIndex, rep.Bytes)
	}
	fmt.Fprintf(c.stdout, "The old store is kept as %s; the agent removes it after its next successful start.\n", rep.Backup)
}

// cancelOnSignal returns a context that SIGINT or SIGTERM cancels, and the
// function that stops watching for them.
func (c *cli) cancelOnSignal() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	stopNotify := c.notify(sigs)
	go func() {
		for {
			select {
			case s := <-sigs:
				if s != syscall.SIGHUP { // SIGHUP means reload to an agent; nothing to reload here
					cancel()
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return ctx, func() {
		stopNotify()
		cancel()
	}
}
