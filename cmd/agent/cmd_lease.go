package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

func leaseCommands() []*command {
	return []*command{
		{name: "grant", synopsis: "Grant a lease of a TTL and print its ID", run: (*cli).cmdLeaseGrant},
		{name: "renew", synopsis: "Give a lease its full TTL again", run: (*cli).cmdLeaseRenew},
		{name: "revoke", synopsis: "Revoke a lease and delete its keys", run: (*cli).cmdLeaseRevoke},
		{name: "show", synopsis: "Show a lease's TTL, time remaining and keys", run: (*cli).cmdLeaseShow},
	}
}

func (c *cli) cmdLeaseGrant(args []string) int {
	cc := c.newClientCmd("agent lease grant", "[-json] [flags] DURATION",
		"Grants a lease of DURATION (1s to 24h) and prints its ID. Keys written with\n-lease ID (kv put) are deleted when it expires or is revoked.", true)
	cc.minArgs, cc.maxArgs, cc.argsHelp = 1, 1, "exactly one argument, the TTL (such as 10s)"
	pos, api, code, ok := c.start(cc, args)
	if !ok {
		return code
	}
	ttl, err := time.ParseDuration(pos[0])
	if err != nil {
		return c.usageError(cc.fs, "the TTL must be a duration such as 10s, got %q", pos[0])
	}
	info, err := api.LeaseGrant(context.Background(), ttl)
	if err != nil {
		return c.fail(api.check(err))
	}
	if cc.jsonOut {
		writeJSONOut(c.stdout, info)
		return exitOK
	}
	fmt.Fprintln(c.stdout, info.ID)
	return exitOK
}

// leaseIDCommand parses a command taking one lease ID.
func (c *cli) leaseIDCommand(path, help string, withJSON bool, args []string) (*clientCmd, string, *apiClient, int, bool) {
	cc := c.newClientCmd(path, "[flags] ID", help, withJSON)
	cc.minArgs, cc.maxArgs, cc.argsHelp = 1, 1, "exactly one argument, the lease ID"
	pos, api, code, ok := c.start(cc, args)
	if !ok {
		return nil, "", nil, code, false
	}
	return cc, pos[0], api, 0, true
}

func (c *cli) cmdLeaseRenew(args []string) int {
	_, id, api, code, ok := c.leaseIDCommand("agent lease renew", "Gives lease ID its full TTL again; fails once it expired or was revoked.", false, args)
	if !ok {
		return code
	}
	if _, err := api.LeaseRenew(context.Background(), id); err != nil {
		return c.fail(api.check(err))
	}
	fmt.Fprintf(c.stdout, "Renewed lease %s.\n", id)
	return exitOK
}

func (c *cli) cmdLeaseRevoke(args []string) int {
	_, id, api, code, ok := c.leaseIDCommand("agent lease revoke", "Revokes lease ID and deletes its keys.", false, args)
	if !ok {
		return code
	}
	if _, err := api.LeaseRevoke(context.Background(), id); err != nil {
		return c.fail(api.check(err))
	}
	fmt.Fprintf(c.stdout, "Revoked lease %s.\n", id)
	return exitOK
}

func (c *cli) cmdLeaseShow(args []string) int {
	cc, id, api, code, ok := c.leaseIDCommand("agent lease show", "Shows lease ID: its TTL, the time it has left, its keys.", true, args)
	if !ok {
		return code
	}
	d, err := api.LeaseShow(context.Background(), id)
	if err != nil {
		return c.fail(api.check(err))
	}
	if cc.jsonOut {
		writeJSONOut(c.stdout, d)
		return exitOK
	}
	fmt.Fprintf(c.stdout, "ID:        %s\nTTL:       %s\nRemaining: %s\nKeys:      %s\n", d.ID, d.TTL, d.Remaining, strings.Join(d.Keys, " "))
	return exitOK
}
