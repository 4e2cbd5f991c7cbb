//go:build chaos_bite_earlyack

package agent

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/agent/kv"
	"github.com/clusteragent/agent/raftnode"
)

// earlyAckMu serialises early acknowledgements, so that concurrent writes
// are not all predicted at the same index.
var earlyAckMu sync.Mutex

// biteEarlyAck deliberately breaks KV write durability, so that the
// fault-injection suite can prove its checker catches an acknowledged write
// that is later lost. It exists only in binaries built with the
// chaos_bite_earlyack tag; never build a production agent with it.
//
// The leader hands the entry to Raft and answers as soon as the entry is in
// its own log, without waiting for it to commit or apply. The answer looks
// like a normal success: the index is predicted as the last log index + 1
// at submission (right unless a membership or other internal entry slips
// in between), and ok from the leader's local store (for a cas: whether the
// key's current modify index matches, a missing key counting as 0;
// otherwise true). Raft's future is dropped unread: not waiting for it is
// the fault.
func (a *Agent) biteEarlyAck(m raftnode.Mutation, data []byte) (httpapi.KVWrite, bool) {
	ok := true
	if p, err := kv.DecodeCommand(m); err == nil && p.CAS != nil {
		var cur uint64
		if e, found := a.kv.Get(p.Key); found {
			cur = e.ModifyIndex
		}
		ok = cur == *p.CAS
	}

	earlyAckMu.Lock()
	defer earlyAckMu.Unlock()
	r := a.raft.Raft()
	index := r.LastIndex() + 1
	r.Apply(data, a.cfg.HTTP.LeaderWait)
	// Raft's leader loop has taken the entry; wait (briefly: a local log
	// write) until it has an index, so the next prediction starts after it.
	deadline := time.Now().Add(a.cfg.HTTP.LeaderWait)
	for r.LastIndex() < index && r.State() == raft.Leader && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	return httpapi.KVWrite{OK: ok, Index: index}, true
}
