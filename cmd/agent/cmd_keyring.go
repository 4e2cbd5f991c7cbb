package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/agent/httpapi"
	agentapi "github.com/clusteragent/agent/api"
)

func keyringCommands() []*command {
	return []*command{
		{name: "list", synopsis: "List the gossip keys of every member", run: (*cli).cmdKeyringList},
		{name: "install", synopsis: "Install a gossip key on every member", run: keyringChange(httpapi.KeyringInstall)},
		{name: "use", synopsis: "Make an installed key the primary on every member", run: keyringChange(httpapi.KeyringUse)},
		{name: "remove", synopsis: "Remove a gossip key from every member", run: keyringChange(httpapi.KeyringRemove)},
	}
}

func (c *cli) cmdKeyringList(args []string) int {
	cc := c.newClientCmd("agent keyring list", "[-json] [flags]",
		"Lists the gossip encryption keys of every live member: each key, how many\n"+
			"members hold it and how many encrypt with it (its primary). A key the\n"+
			"answering agent does not hold shows as its fingerprint only.", true)
	_, api, code, ok := c.start(cc, args)
	if !ok {
		return code
	}
	resp, err := api.KeyringList(context.Background())
	if err != nil {
		return c.fail(api.check(err))
	}
	if cc.jsonOut {
		writeJSONOut(c.stdout, resp)
		return exitOK
	}
	total := strconv.Itoa(resp.NumNodes)
	rows := make([][]string, 0, len(resp.Keys))
	for _, k := range resp.Keys {
		rows = append(rows, []string{orDash(k.Key), k.Fingerprint, strconv.Itoa(k.Members) + "/" + total,
			strconv.Itoa(len(k.PrimaryOn)) + "/" + total})
	}
	_ = table(c.stdout, "KEY\tFINGERPRINT\tMEMBERS\tPRIMARY ON", rows)
	var plain []string
	for _, n := range resp.Nodes {
		if n.OK && !n.Encrypted {
			plain = append(plain, n.ID)
		}
	}
	if len(plain) > 0 {
		fmt.Fprintf(c.stdout, "\nWithout encryption: %s\n", strings.Join(plain, ", "))
	}
	return exitOK
}

// keyringDone says what a successful change did, by operation.
var keyringDone = map[string]string{
	httpapi.KeyringInstall: "Installed key %s on %s.\n",
	httpapi.KeyringUse:     "Key %s is now the primary on %s.\n",
	httpapi.KeyringRemove:  "Removed key %s from %s.\n",
}

// allMembers reads "all 3 members", or "the only member".
func allMembers(n int) string {
	if n == 1 {
		return "the only member"
	}
	return fmt.Sprintf("all %d members", n)
}

var keyringHelp = map[string]string{
	httpapi.KeyringInstall: "Installs the base64 gossip KEY on every live member, so they can all read\n" +
		"gossip encrypted with it. Rotation: install the new key, use it, remove the old one.",
	httpapi.KeyringUse: "Makes KEY, installed on every member, the primary on every member: the\n" +
		"key they encrypt with. Nothing changes unless every member has it.",
	httpapi.KeyringRemove: "Removes KEY from every member. Nothing changes while KEY is still the\n" +
		"primary of some member: make another key primary with 'use' first.",
}

// keyringChange builds install, use and remove. KEY "-" reads the key from
// stdin, which keeps it out of the process list and the shell history.
func keyringChange(op string) func(c *cli, args []string) int {
	return func(c *cli, args []string) int {
		cc := c.newClientCmd("agent keyring "+op, "[flags] KEY",
			keyringHelp[op]+"\nKEY is a base64 key (agent keygen makes one), or - to read it from stdin.\n"+
				"When some members fail or do not answer, they are listed and the command\n"+
				"exits 1; the others keep the change, and running it again is safe.", false)
		cc.minArgs, cc.maxArgs, cc.argsHelp = 1, 1, "exactly one argument, the base64 key (or - for stdin)"
		pos, api, code, ok := c.start(cc, args)
		if !ok {
			return code
		}
		key, err := c.keyArg(pos[0])
		if err != nil {
			return c.usageError(cc.fs, "%v", err)
		}
		var resp agentapi.KeyringResponse
		switch op {
		case agentapi.KeyringInstall:
			resp, err = api.KeyringInstall(context.Background(), key)
		case agentapi.KeyringUse:
			resp, err = api.KeyringUse(context.Background(), key)
		default:
			resp, err = api.KeyringRemove(context.Background(), key)
		}
		if err != nil {
			return c.fail(api.check(err))
		}
		fmt.Fprintf(c.stdout, keyringDone[op], resp.Fingerprint, allMembers(resp.NumNodes))
		return exitOK
	}
}

// keyArg returns the key given as an argument or, for "-", on stdin, after
// checking its form. Errors never repeat the key.
func (c *cli) keyArg(arg string) (string, error) {
	key := arg
	if arg == "-" {
		line, err := bufio.NewReader(io.LimitReader(c.stdin, 4096)).ReadString('\n')
		if err != nil && err != io.EOF {
			return "", fmt.Errorf("reading the key from stdin: %w", err)
		}
		key = line
	}
	key = strings.TrimSpace(key)
	if key == "" {
		return "", fmt.Errorf("the key is empty")
	}
	if _, err := agent.DecodeGossipKey(key); err != nil {
		return "", fmt.Errorf("KEY: %v", err)
	}
	return key, nil
}
