package chaos

import (
	"github.com/clusteragent/agent/api"

	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/clusteragent/agent/internal/chaos/linearize"
)

// leaderConfiguration finds the leader among nodes and returns its Raft
// configuration as ID -> suffrage.
func leaderConfiguration(ctx context.Context, obs *observer, nodes []string) (map[string]string, error) {
	leader, err := obs.leader(ctx, nodes)
	if err != nil {
		return nil, err
	}
	c, err := obs.client(leader)
	if err != nil {
		return nil, err
	}
	conf, err := c.RaftConfiguration(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(conf.Servers))
	for _, s := range conf.Servers {
		out[s.ID] = s.Suffrage
	}
	return out, nil
}

// converged checks, once, what must hold after the last heal: every live
// node has applied the same index and holds the same state, every live node
// sees every other alive in gossip, and the leader's Raft configuration is
// what the autopilot settings make of the live servers.
func converged(ctx context.Context, obs *observer, live, retired []string, s AutopilotSettings) error {
	var applied []string
	var firstIndex uint64
	var firstHash uint64
	var firstNode string
	for i, n := range live {
		st, err := obs.status(ctx, n)
		if err != nil {
			return fmt.Errorf("status of %s: %w", n, err)
		}
		h, err := stateHash(ctx, obs, n)
		if err != nil {
			return fmt.Errorf("state of %s: %w", n, err)
		}
		applied = append(applied, fmt.Sprintf("%s=%d/%x", n, st.AppliedIndex, h))
		if i == 0 {
			firstIndex, firstHash, firstNode = st.AppliedIndex, h, n
			continue
		}
		if st.AppliedIndex != firstIndex || h != firstHash {
			return fmt.Errorf("applied index/state hash differ (%s vs %s): %s", n, firstNode, strings.Join(applied, " "))
		}
	}
	for _, n := range live {
		c, err := obs.client(n)
		if err != nil {
			return err
		}
		members, err := c.Members(ctx)
		if err != nil {
			return err
		}
		status := map[string]string{}
		for _, m := range members {
			status[m.ID] = m.Status
		}
		for _, other := range live {
			if status[other] != "alive" {
				return fmt.Errorf("gossip on %s shows %s as %q", n, other, status[other])
			}
		}
	}
	conf, err := leaderConfiguration(ctx, obs, live)
	if err != nil {
		return err
	}
	voters := 0
	for _, id := range live {
		switch conf[id] {
		case "":
			return fmt.Errorf("live server %s is not in the Raft configuration %v", id, conf)
		case "voter":
			voters++
		}
	}
	for _, id := range retired {
		if _, ok := conf[id]; ok {
			return fmt.Errorf("dead server %s still in the Raft configuration %v", id, conf)
		}
	}
	if len(conf) != len(live) {
		return fmt.Errorf("the Raft configuration %v has servers that are not live (live: %v)", conf, live)
	}
	if want := min(s.MaxVoters, len(live)); voters != want {
		return fmt.Errorf("the Raft configuration %v has %d voters, want %d (max_voters %d, %d live servers)", conf, voters, want, s.MaxVoters, len(live))
	}
	return nil
}

// kvEntry is one element of GET /v1/kv/?prefix='s answer.
type kvEntry = api.KVEntry

// localState reads node's own copy of the suite's keys (a stale read, so
// it is that node's state machine, not the leader's).
func localState(ctx context.Context, obs *observer, node string) ([]kvEntry, error) {
	c, err := obs.client(node)
	if err != nil {
		return nil, err
	}
	entries, _, err := c.KVList(ctx, KeyPrefix, &api.QueryOptions{Stale: true})
	sort.Slice(entries, func(i, j int) bool { return entries[i].Key < entries[j].Key })
	return entries, err
}

// stateHash is a hash of node's copy of the suite's keys, indexes included.
func stateHash(ctx context.Context, obs *observer, node string) (uint64, error) {
	entries, err := localState(ctx, obs, node)
	if err != nil {
		return 0, err
	}
	h := fnv.New64a()
	for _, e := range entries {
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\n", e.Key, e.Value, e.CreateIndex, e.ModifyIndex)
	}
	return h.Sum64(), nil
}

// lostWrites checks that every acknowledged write survives in the final
// state: a key's final modify index is at least every acknowledged write's
// index, the write with exactly that index left its value, and a key that
// ends absent had a delete (acknowledged after the last acknowledged put,
// or of unknown fate) to remove it.
func lostWrites(acks []ack, final []kvEntry, ops []porcupine.Operation) []string {
	byKey := map[string]kvEntry{}
	for _, e := range final {
		byKey[e.Key] = e
	}
	unknownDelete := map[string]bool{}
	for _, op := range ops {
		in, _ := op.Input.(linearize.Input)
		if out, ok := op.Output.(linearize.WriteResult); ok && out.Unknown && in.Op == linearize.OpDelete {
			unknownDelete[in.Key] = true
		}
	}
	lastPut, lastDel := map[string]ack{}, map[string]uint64{}
	var out []string
	for _, a := range acks {
		e, present := byKey[a.Key]
		if present && a.Index > e.ModifyIndex {
			out = append(out, fmt.Sprintf("acknowledged %s at index %d lost: %s ends at modify index %d", kindOf(a), a.Index, a.Key, e.ModifyIndex))
		}
		if present && !a.Delete && a.Index == e.ModifyIndex && a.Value != string(e.Value) {
			out = append(out, fmt.Sprintf("acknowledged put of %q to %s at index %d lost: the key holds %q", a.Value, a.Key, a.Index, e.Value))
		}
		if a.Delete {
			lastDel[a.Key] = max(lastDel[a.Key], a.Index)
		} else if a.Index > lastPut[a.Key].Index {
			lastPut[a.Key] = a
		}
	}
	for key, p := range lastPut {
		if _, present := byKey[key]; !present && p.Index > lastDel[key] && !unknownDelete[key] {
			out = append(out, fmt.Sprintf("acknowledged put of %q to %s at index %d lost: the key ends absent and no later delete was made", p.Value, key, p.Index))
		}
	}
	sort.Strings(out)
	return out
}

func kindOf(a ack) string {
	if a.Delete {
		return "delete of " + a.Key
	}
	return fmt.Sprintf("put of %q to %s", a.Value, a.Key)
}

// RemovalPassMessage is the log message autopilot writes for each pass that
// removes servers, with fields voters, removing, removing_voters, leader and
// min_quorum.
const RemovalPassMessage = "autopilot removal pass"

// autopilotViolations reads the JSON logs in dir and checks every removal
// pass: at most ⌊(voters−1)/2⌋ voters removed, never below min_quorum,
// never the leader.
func autopilotViolations(dir string) ([]string, int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, 0, err
	}
	var out []string
	passes := 0
	for _, f := range files {
		v, n, err := removalPasses(f)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, v...)
		passes += n
	}
	return out, passes, nil
}

func removalPasses(path string) ([]string, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	var out []string
	passes := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !strings.Contains(string(line), RemovalPassMessage) {
			continue
		}
		var p struct {
			Message        string `json:"@message"`
			Voters         int    `json:"voters"`
			Removing       string `json:"removing"`
			RemovingVoters int    `json:"removing_voters"`
			Leader         string `json:"leader"`
			MinQuorum      int    `json:"min_quorum"`
		}
		if json.Unmarshal(line, &p) != nil || p.Message != RemovalPassMessage {
			continue
		}
		passes++
		where := fmt.Sprintf("%s: pass removing %s (voters %d, removing %d voters, leader %s, min_quorum %d)",
			filepath.Base(path), p.Removing, p.Voters, p.RemovingVoters, p.Leader, p.MinQuorum)
		if p.RemovingVoters > (p.Voters-1)/2 {
			out = append(out, where+": more than ⌊(voters−1)/2⌋ voters")
		}
		if p.MinQuorum > 0 && p.RemovingVoters > 0 && p.Voters-p.RemovingVoters < p.MinQuorum {
			out = append(out, where+": below min_quorum")
		}
		for _, id := range strings.Split(p.Removing, ",") {
			if id != "" && id == p.Leader {
				out = append(out, where+": removes the leader")
			}
		}
	}
	return out, passes, sc.Err()
}

// indexConflicts checks that no Raft log index holds two different writes.
// Indexes are the log's, shared by all keys, so each names exactly one
// entry: every acknowledged write claims the entry at its index, and every
// read that found a key claims that the entry at its modify index wrote the
// value it returned. Two different claims on one index mean an
// acknowledged write was lost (or a read returned a write that was never
// committed), however the histories of the single keys look.
func indexConflicts(acks []ack, ops []porcupine.Operation) []string {
	type claim struct{ what, by string }
	claims := map[uint64]claim{}
	var out []string
	seen := map[string]bool{}
	add := func(index uint64, what, by string) {
		prev, ok := claims[index]
		switch {
		case !ok:
			claims[index] = claim{what, by}
		case prev.what != what:
			v := fmt.Sprintf("log index %d holds two writes: %s (%s) and %s (%s)", index, prev.what, prev.by, what, by)
			if !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	for _, a := range acks {
		if a.Delete {
			add(a.Index, "delete of "+a.Key, "acknowledged")
		} else {
			add(a.Index, fmt.Sprintf("put of %q to %s", a.Value, a.Key), "acknowledged")
		}
	}
	for _, op := range ops {
		in, _ := op.Input.(linearize.Input)
		if res, ok := op.Output.(linearize.GetResult); ok && in.Op == linearize.OpGet && res.Found {
			add(res.ModifyIndex, fmt.Sprintf("put of %q to %s", res.Value, in.Key), "read")
		}
	}
	sort.Strings(out)
	return out
}
