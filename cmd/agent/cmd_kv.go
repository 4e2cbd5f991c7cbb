package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	agentapi "github.com/clusteragent/agent/api"
)

// kvEntry is one key of the replicated store, as the API returns it.
type kvEntry = agentapi.KVEntry

// maxValueBytes bounds a value the CLI reads from stdin or a file; the
// agent's own limit (1 MiB by default) is usually far lower and answers
// with a message naming it.
const maxValueBytes = 64 << 20

func kvCommands() []*command {
	return []*command{
		{name: "put", synopsis: "Set a key (VALUE - reads stdin)", run: (*cli).cmdKVPut},
		{name: "get", synopsis: "Print a key's value", run: (*cli).cmdKVGet},
		{name: "delete", synopsis: "Delete a key", run: (*cli).cmdKVDelete},
		{name: "list", synopsis: "List keys under a prefix", run: (*cli).cmdKVList},
		{name: "watch", synopsis: "Print each change of a key or prefix until interrupted", run: (*cli).cmdKVWatch},
	}
}

func (c *cli) cmdKVPut(args []string) int {
	cc := c.newClientCmd("agent kv put", "[flags] KEY VALUE",
		"Sets KEY to VALUE once the write is committed. VALUE - reads the value from\nstdin; @FILE reads it from FILE (\\@ starts a literal @). With -cas, the write\nhappens only if the key's modify index is INDEX (0: only if the key is absent).", false)
	var cas casFlag
	cc.fs.Var(&cas, "cas", "compare-and-set: write only if the key's modify index is `INDEX` (0: only if absent)")
	ttl := cc.fs.Duration("ttl", 0, "the key disappears this `DURATION` after this write unless written again (a lease of its own)")
	lease := cc.fs.String("lease", "", "attach the key to lease `ID` (see agent lease grant)")
	cc.minArgs, cc.maxArgs, cc.argsHelp = 2, 2, "two arguments, KEY and VALUE"
	pos, api, code, ok := c.start(cc, args)
	if !ok {
		return code
	}
	if pos[0] == "" {
		return c.usageError(cc.fs, "%s", errEmptyKey)
	}
	var body io.Reader = strings.NewReader(pos[1])
	switch {
	case pos[1] == "-":
		body = c.stdin
	case strings.HasPrefix(pos[1], "@"):
		f, err := os.Open(pos[1][1:])
		if err != nil {
			return c.fail(fmt.Errorf("value file: %w", err))
		}
		defer f.Close()
		body = f
	case strings.HasPrefix(pos[1], `\@`):
		body = strings.NewReader(pos[1][1:])
	}
	opts := &agentapi.PutOptions{Lease: *lease}
	if cas.set {
		opts.CAS = agentapi.Index(cas.index)
	}
	if *ttl != 0 && *lease != "" {
		return c.usageError(cc.fs, "give -ttl or -lease, not both")
	}
	value, err := io.ReadAll(io.LimitReader(body, maxValueBytes+1))
	if err != nil {
		return c.fail(fmt.Errorf("reading the value: %w", err))
	}
	if len(value) > maxValueBytes {
		return c.fail(fmt.Errorf("the value exceeds %d bytes", maxValueBytes))
	}
	if *ttl != 0 {
		info, err := api.LeaseGrant(context.Background(), *ttl)
		if err != nil {
			return c.fail(fmt.Errorf("granting the key's lease: %w", api.check(err)))
		}
		opts.Lease = info.ID
	}
	res, err := api.KVPut(context.Background(), pos[0], value, opts)
	if err != nil {
		return c.fail(api.check(err))
	}
	fmt.Fprintf(c.stdout, "Wrote %s at index %d.\n", pos[0], res.Index)
	return exitOK
}

func (c *cli) cmdKVDelete(args []string) int {
	cc := c.newClientCmd("agent kv delete", "[flags] KEY", "Deletes KEY once the delete is committed.", false)
	cc.minArgs, cc.maxArgs, cc.argsHelp = 1, 1, "exactly one argument, the key"
	pos, api, code, ok := c.start(cc, args)
	if !ok {
		return code
	}
	if pos[0] == "" {
		return c.usageError(cc.fs, "%s", errEmptyKey)
	}
	res, err := api.KVDelete(context.Background(), pos[0], nil)
	if err != nil {
		return c.fail(api.check(err))
	}
	fmt.Fprintf(c.stdout, "Deleted %s at index %d.\n", pos[0], res.Index)
	return exitOK
}

func (c *cli) cmdKVGet(args []string) int {
	cc := c.newClientCmd("agent kv get", "[-json] [-stale] [flags] KEY",
		"Prints the value of KEY. Reads are linearizable unless -stale is given.", true)
	stale := cc.fs.Bool("stale", false, "read this agent's local copy, which may lag the leader")
	cc.minArgs, cc.maxArgs, cc.argsHelp = 1, 1, "exactly one argument, the key"
	pos, api, code, ok := c.start(cc, args)
	if !ok {
		return code
	}
	if pos[0] == "" {
		return c.usageError(cc.fs, "%s", errEmptyKey)
	}
	e, _, err := api.KVGet(context.Background(), pos[0], &agentapi.QueryOptions{Stale: *stale})
	if err != nil {
		return c.fail(api.check(err))
	}
	if cc.jsonOut {
		writeJSONOut(c.stdout, e)
		return exitOK
	}
	_, _ = c.stdout.Write(e.Value)
	if len(e.Value) > 0 && e.Value[len(e.Value)-1] != '\n' && utf8.Valid(e.Value) {
		fmt.Fprintln(c.stdout)
	}
	return exitOK
}

func (c *cli) cmdKVList(args []string) int {
	cc := c.newClientCmd("agent kv list", "[-json] [-stale] [flags] [PREFIX]",
		"Lists the keys that start with PREFIX (all keys without one).", true)
	stale := cc.fs.Bool("stale", false, "read this agent's local copy, which may lag the leader")
	cc.minArgs, cc.maxArgs, cc.argsHelp = 0, 1, "at most one argument, the prefix"
	pos, api, code, ok := c.start(cc, args)
	if !ok {
		return code
	}
	prefix := ""
	if len(pos) == 1 {
		prefix = pos[0]
	}
	entries, _, err := api.KVList(context.Background(), prefix, &agentapi.QueryOptions{Stale: *stale})
	if err != nil {
		return c.fail(api.check(err))
	}
	if cc.jsonOut {
		writeJSONOut(c.stdout, entries)
		return exitOK
	}
	rows := make([][]string, 0, len(entries))
	for _, e := range entries {
		rows = append(rows, []string{e.Key, strconv.FormatUint(e.ModifyIndex, 10), preview(e.Value)})
	}
	_ = table(c.stdout, "KEY\tMODIFY INDEX\tVALUE", rows)
	return exitOK
}

// preview shows a value in one table cell: short printable text as is,
// anything else by its size.
func preview(v []byte) string {
	const max = 40
	if !utf8.Valid(v) || strings.IndexFunc(string(v), func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return fmt.Sprintf("<%d bytes>", len(v))
	}
	if r := []rune(string(v)); len(r) > max {
		return string(r[:max]) + "..."
	}
	return string(v)
}

// errEmptyKey is the usage error for "": the empty path is the listing.
const errEmptyKey = "KEY is empty; 'agent kv list' shows every key"

// casFlag is -cas INDEX. Its absence, not a magic value, means no
// compare-and-set, so a negative INDEX is an error like any other bad number.
type casFlag struct {
	index uint64
	set   bool
}

func (f *casFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return strconv.FormatUint(f.index, 10)
}

func (f *casFlag) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("want a modify index, 0 or more (0: only if the key is absent)")
	}
	f.index, f.set = n, true
	return nil
}
