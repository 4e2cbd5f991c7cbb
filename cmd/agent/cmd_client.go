package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// clientCmd is the shared shape of the commands that call an agent's API.
type clientCmd struct {
	fs      *flagSet
	flags   *clientFlags
	jsonOut bool
	// args bounds the positional arguments; argsHelp names them in errors.
	minArgs, maxArgs int
	argsHelp         string
}

func (c *cli) newClientCmd(path, usage, help string, withJSON bool) *clientCmd {
	cc := &clientCmd{fs: newFlagSet(path, usage, help)}
	if withJSON {
		cc.fs.BoolVar(&cc.jsonOut, "json", false, "print the agent's JSON answer instead of a table")
	}
	cc.flags = c.addClientFlags(cc.fs)
	return cc
}

// start parses args and builds the client; ok false means return code.
func (c *cli) start(cc *clientCmd, args []string) (positional []string, api *apiClient, code int, ok bool) {
	positional, code, ok = c.parse(cc.fs, args)
	if !ok {
		return nil, nil, code, false
	}
	if len(positional) < cc.minArgs || len(positional) > cc.maxArgs {
		if cc.maxArgs == 0 {
			return nil, nil, c.usageError(cc.fs, "unexpected argument %q", positional[0]), false
		}
		return nil, nil, c.usageError(cc.fs, "expected %s, got %d argument(s)", cc.argsHelp, len(positional)), false
	}
	api, err := cc.flags.client()
	if err != nil {
		return nil, nil, c.usageError(cc.fs, "%v", err), false
	}
	return positional, api, 0, true
}

func (c *cli) cmdMembers(args []string) int {
	cc := c.newClientCmd("agent members", "[-json] [flags]",
		"Lists the gossip members: ID, gossip address, status (alive, suspect, dead, left),\nRaft address, role and zone.", true)
	_, api, code, ok := c.start(cc, args)
	if !ok {
		return code
	}
	members, err := api.Members(context.Background())
	if err != nil {
		return c.fail(api.check(err))
	}
	if cc.jsonOut {
		writeJSONOut(c.stdout, members)
		return exitOK
	}
	rows := make([][]string, 0, len(members))
	for _, m := range members {
		rows = append(rows, []string{m.ID, m.Addr, m.Status, orDash(m.RaftAddr), orDash(m.Role), orDash(m.Zone)})
	}
	_ = table(c.stdout, "ID\tADDRESS\tSTATUS\tRAFT ADDRESS\tROLE\tZONE", rows)
	return exitOK
}

func (c *cli) cmdRaftPeers(args []string) int {
	cc := c.newClientCmd("agent raft peers", "[-json] [flags]",
		"Lists the Raft configuration: ID, Raft address, suffrage (voter, nonvoter);\nthe leader is marked with *.", true)
	_, api, code, ok := c.start(cc, args)
	if !ok {
		return code
	}
	conf, err := api.RaftConfiguration(context.Background())
	if err != nil {
		return c.fail(api.check(err))
	}
	if cc.jsonOut {
		writeJSONOut(c.stdout, conf)
		return exitOK
	}
	rows := make([][]string, 0, len(conf.Servers))
	for _, s := range conf.Servers {
		rows = append(rows, []string{s.ID, s.Address, s.Suffrage, mark(s.Leader)})
	}
	_ = table(c.stdout, "ID\tADDRESS\tSUFFRAGE\tLEADER", rows)
	return exitOK
}

func (c *cli) cmdRaftRemovePeer(args []string) int {
	cc := c.newClientCmd("agent raft remove-peer", "[flags] ID",
		"Removes the server ID from the Raft configuration. The leader does it; asked\nelsewhere, the agent forwards the request to the leader.", false)
	cc.minArgs, cc.maxArgs, cc.argsHelp = 1, 1, "exactly one argument, the node ID"
	pos, api, code, ok := c.start(cc, args)
	if !ok {
		return code
	}
	if err := api.RaftRemovePeer(context.Background(), pos[0]); err != nil {
		return c.fail(api.check(err))
	}
	fmt.Fprintf(c.stdout, "Removed %s from the Raft configuration.\n", pos[0])
	return exitOK
}

func (c *cli) cmdRaftTransfer(args []string) int {
	cc := c.newClientCmd("agent raft transfer-leadership", "[flags] [ID]",
		"Hands leadership to the voter ID, or to the most up-to-date voter when no ID\nis given, and returns once leadership has moved.", false)
	cc.minArgs, cc.maxArgs, cc.argsHelp = 0, 1, "at most one argument, the node ID"
	pos, api, code, ok := c.start(cc, args)
	if !ok {
		return code
	}
	id := ""
	if len(pos) == 1 {
		id = pos[0]
	}
	if err := api.RaftTransferLeadership(context.Background(), id); err != nil {
		return c.fail(api.check(err))
	}
	// The agent answers once the new leader is known to it, so its status
	// names who leads now.
	if st, err := api.Status(context.Background()); err == nil && st.LeaderID != "" {
		fmt.Fprintf(c.stdout, "Leadership transferred; %s leads now.\n", st.LeaderID)
	} else if len(pos) == 1 {
		fmt.Fprintf(c.stdout, "Leadership transferred to %s.\n", pos[0])
	} else {
		fmt.Fprintln(c.stdout, "Leadership transferred.")
	}
	return exitOK
}

func (c *cli) cmdAutopilotState(args []string) int {
	cc := c.newClientCmd("agent autopilot state", "[-json] [flags]",
		"Shows cluster health as the leader's autopilot sees it: healthy, failure\ntolerance, leader, voters and per-server health.", true)
	_, api, code, ok := c.start(cc, args)
	if !ok {
		return code
	}
	h, err := api.AutopilotHealth(context.Background())
	if err != nil {
		return c.fail(api.check(err))
	}
	if cc.jsonOut {
		writeJSONOut(c.stdout, h)
		return exitOK
	}
	fmt.Fprintf(c.stdout, "Healthy:            %t\n", h.Healthy)
	fmt.Fprintf(c.stdout, "Failure tolerance:  %d\n", h.FailureTolerance)
	fmt.Fprintf(c.stdout, "Leader:             %s\n", orDash(h.Leader))
	fmt.Fprintf(c.stdout, "Voters:             %s\n\n", orDash(strings.Join(h.Voters, ", ")))
	rows := make([][]string, 0, len(h.Servers))
	for _, s := range h.Servers {
		rows = append(rows, []string{s.ID, orDash(s.Address), orDash(s.NodeStatus), strconv.FormatBool(s.Healthy),
			strconv.FormatBool(s.Voter), mark(s.Leader), orDash(s.LastContact),
			strconv.FormatUint(s.LastTerm, 10), strconv.FormatUint(s.LastIndex, 10), orDash(s.StableSince)})
	}
	_ = table(c.stdout, "ID\tADDRESS\tSTATUS\tHEALTHY\tVOTER\tLEADER\tLAST CONTACT\tLAST TERM\tLAST INDEX\tSTABLE SINCE", rows)
	return exitOK
}

func (c *cli) cmdLeave(args []string) int {
	cc := c.newClientCmd("agent leave", "[flags]",
		"Makes the agent leave gracefully: it leaves gossip, is removed from Raft,\nthen exits.", false)
	_, api, code, ok := c.start(cc, args)
	if !ok {
		return code
	}
	if err := api.Leave(context.Background()); err != nil {
		return c.fail(api.check(err))
	}
	fmt.Fprintf(c.stdout, "The agent at %s is leaving the cluster and will exit.\n", api.Host())
	return exitOK
}

func mark(b bool) string {
	if b {
		return "*"
	}
	return ""
}
