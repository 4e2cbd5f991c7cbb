package agent

import (
	"fmt"

	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/raftnode"
)

// removeRefusal says why an operator's request to remove id from the Raft
// configuration servers must be refused, or nil. Raft itself would refuse
// to remove the last voter, but with an error no person can act on.
func removeRefusal(servers []raftnode.Server, id string) error {
	found, otherVoters := false, 0
	for _, s := range servers {
		switch {
		case s.ID == id:
			found = true
		case s.Suffrage == "voter":
			otherVoters++
		}
	}
	if !found {
		return fmt.Errorf("%w: %q is not in the raft configuration", httpapi.ErrNotFound, id)
	}
	if otherVoters == 0 {
		return fmt.Errorf("%w: %s is the only voter; removing it would leave the cluster without one", httpapi.ErrConflict, id)
	}
	return nil
}

// transferRefusal says why handing leadership from self to id ("" for
// any voter) must be refused, or nil.
func transferRefusal(servers []raftnode.Server, self, id string) error {
	if id == self {
		return fmt.Errorf("%w: %s is already the leader", httpapi.ErrConflict, id)
	}
	otherVoters := 0
	for _, s := range servers {
		if s.ID == id && s.Suffrage != "voter" {
			return fmt.Errorf("%w: %s is a %s; only a voter can lead", httpapi.ErrConflict, id, s.Suffrage)
		}
		if s.ID == id {
			return nil
		}
		if s.ID != self && s.Suffrage == "voter" {
			otherVoters++
		}
	}
	if id != "" {
		return fmt.Errorf("%w: %q is not in the raft configuration", httpapi.ErrNotFound, id)
	}
	if otherVoters == 0 {
		return fmt.Errorf("%w: there is no other voter to hand leadership to", httpapi.ErrConflict)
	}
	return nil
}

// onlyConfigured drops from h the servers that are no longer in the Raft
// configuration servers. Autopilot recomputes its state every few seconds,
// so without this a server just pruned or removed would still be listed
// until the next round.
func onlyConfigured(h httpapi.AutopilotHealth, servers []raftnode.Server) httpapi.AutopilotHealth {
	in := make(map[string]bool, len(servers))
	for _, s := range servers {
		in[s.ID] = true
	}
	kept := h.Servers[:0:0]
	for _, s := range h.Servers {
		if in[s.ID] {
			kept = append(kept, s)
		}
	}
	voters := make([]string, 0, len(h.Voters))
	for _, v := range h.Voters {
		if in[v] {
			voters = append(voters, v)
		}
	}
	h.Servers, h.Voters = kept, voters
	return h
}
