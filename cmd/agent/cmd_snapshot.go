package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/clusteragent/agent/agent/snapshot"
)

func snapshotCommands() []*command {
	return []*command{
		{name: "save", synopsis: "Write a snapshot of the cluster's state to a file", run: (*cli).cmdSnapshotSave},
		{name: "restore", synopsis: "Replace the cluster's state with a snapshot file's", run: (*cli).cmdSnapshotRestore},
		{name: "inspect", synopsis: "Check a snapshot file and describe it", run: (*cli).cmdSnapshotInspect},
	}
}

const snapshotSaveHelp = `Writes a consistent snapshot of the cluster's replicated state, taken through
the leader, to FILE. FILE is written atomically: it is complete and verified,
or absent. With -stale, the agent asked answers from its own copy, which may
lag the leader. The transfer has no time limit; interrupt it to stop.`

func (c *cli) cmdSnapshotSave(args []string) int {
	cc := c.newClientCmd("agent snapshot save", "[-stale] [flags] FILE", snapshotSaveHelp, false)
	stale := cc.fs.Bool("stale", false, "let any server answer from its own state")
	cc.minArgs, cc.maxArgs, cc.argsHelp = 1, 1, "FILE"
	pos, api, code, ok := c.start(cc, args)
	if !ok {
		return code
	}
	ctx, stop := c.cancelOnSignal()
	defer stop()
	var info snapshot.Info
	err := snapshot.WriteFileAtomic(pos[0], func(f *os.File) error {
		if _, err := api.SnapshotSave(ctx, f, *stale); err != nil {
			return api.check(err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		// A stream cut short or damaged on the way is caught here, before
		// the file gets its name.
		var err error
		if info, err = snapshot.Verify(f); err != nil {
			return fmt.Errorf("the snapshot received from %s does not verify: %w", api.Host(), err)
		}
		return nil
	})
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "Saved %s: index %d, term %d, %d keys, %d bytes, cluster %s\n",
		pos[0], info.Index, info.Term, info.Keys, info.Size, orDash(info.ClusterID))
	return exitOK
}

const snapshotRestoreHelp = `Replaces the cluster's state with the snapshot in FILE, through the leader;
every server ends with that state. FILE is verified here first, and again by
the leader before anything changes: a corrupt, truncated or unknown file is
refused. A snapshot taken from another cluster (another cluster ID) is
refused unless -force. The cluster keeps its own ID and members.`

func (c *cli) cmdSnapshotRestore(args []string) int {
	cc := c.newClientCmd("agent snapshot restore", "[-force] [flags] FILE", snapshotRestoreHelp, true)
	force := cc.fs.Bool("force", false, "restore a snapshot taken from another cluster")
	cc.minArgs, cc.maxArgs, cc.argsHelp = 1, 1, "FILE"
	pos, api, code, ok := c.start(cc, args)
	if !ok {
		return code
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return c.fail(err)
	}
	defer f.Close()
	info, err := snapshot.Verify(f)
	if err != nil {
		return c.fail(fmt.Errorf("%s: %w; nothing was restored", pos[0], err))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return c.fail(err)
	}
	ctx, stop := c.cancelOnSignal()
	defer stop()
	res, err := api.SnapshotRestore(ctx, f, info.Size, *force)
	if err != nil {
		return c.fail(api.check(err))
	}
	if cc.jsonOut {
		writeJSONOut(c.stdout, res)
		return exitOK
	}
	fmt.Fprintf(c.stdout, "Restored %s: index %d, term %d, %d keys; committed at index %d\n",
		pos[0], res.Index, res.Term, res.Keys, res.AppliedIndex)
	return exitOK
}

const snapshotInspectHelp = `Reads the whole snapshot FILE, checks its checksum and its state, and prints
its index, term, size, number of keys and cluster ID. Exits 1 if the file is
corrupt, truncated or of an unknown format.`

func (c *cli) cmdSnapshotInspect(args []string) int {
	fs := newFlagSet("agent snapshot inspect", "[-json] FILE", snapshotInspectHelp)
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return c.usageError(fs, "expected FILE, got %d argument(s)", len(pos))
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return c.fail(err)
	}
	defer f.Close()
	info, verr := snapshot.Verify(f)
	if verr != nil && info.Format == 0 {
		return c.fail(fmt.Errorf("%s: %w", pos[0], verr))
	}
	if *jsonOut {
		out, _ := json.MarshalIndent(info, "", "  ")
		writeRaw(c.stdout, out)
	} else {
		c.printSnapshotInfo(info)
	}
	if verr != nil {
		return c.fail(fmt.Errorf("%s: %w", pos[0], verr))
	}
	return exitOK
}

func (c *cli) printSnapshotInfo(info snapshot.Info) {
	rows := [][]string{
		{"Index", fmt.Sprint(info.Index)},
		{"Term", fmt.Sprint(info.Term)},
		{"Size", fmt.Sprintf("%d bytes", info.Size)},
		{"Keys", fmt.Sprint(info.Keys)},
		{"Tombstones", fmt.Sprint(info.Tombstones)},
		{"Leases", fmt.Sprint(info.Leases)},
		{"Cluster ID", orDash(info.ClusterID)},
		{"Node ID", orDash(info.NodeID)},
		{"Created", info.CreatedAt.Format("2006-01-02T15:04:05Z07:00")},
		{"Agent version", orDash(info.AgentVersion)},
		{"Checksum OK", fmt.Sprint(info.ChecksumOK)},
	}
	_ = table(c.stdout, "FIELD\tVALUE", rows)
}
