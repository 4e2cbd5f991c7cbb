package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/raftnode"
)

// readiness decides GET /v1/health/ready for a server: 200 only when
// restarting the next server is safe. It needs a leader, the leader's
// commit applied here, and the Raft role autopilot will give it: it must be
// in the configuration (a server that left, or was wiped, waits to be
// added), and a non-voter is not ready while the cluster has fewer than
// maxVoters voters, because autopilot is still to promote it: restarting
// another voter then would leave one fewer vote than after the promotion.
func readiness(selfID string, st raftnode.Status, conf raftnode.Configuration, maxVoters int) error {
	if st.LeaderID == "" {
		return fmt.Errorf("%w: no cluster leader known", httpapi.ErrNoLeader)
	}
	if st.AppliedIndex < st.CommitIndex {
		return fmt.Errorf("%w: applied index %d behind commit index %d", httpapi.ErrUnavailable, st.AppliedIndex, st.CommitIndex)
	}
	voters, suffrage := 0, ""
	for _, s := range conf.Servers {
		if s.Suffrage == "voter" {
			voters++
		}
		if s.ID == selfID {
			suffrage = s.Suffrage
		}
	}
	switch {
	case suffrage == "":
		return fmt.Errorf("%w: not in the raft configuration yet; waiting for the leader to add it", httpapi.ErrUnavailable)
	case suffrage != "voter" && voters < maxVoters:
		return fmt.Errorf("%w: a %s while the cluster has %d of %d voters; waiting to be promoted",
			httpapi.ErrUnavailable, suffrage, voters, maxVoters)
	}
	return nil
}

// leaderHintTTL is how long a leader address learned from other servers is
// reused: the write path asks for it on every retry while it waits.
const leaderHintTTL = 250 * time.Millisecond

// leaderHint caches the leader address that other servers report, for a
// server that knows no leader itself: one outside the Raft configuration
// (restarted after leaving, or wiped) gets no heartbeats until the leader
// adds it, yet a leader exists and writes can be forwarded to it.
type leaderHint struct {
	mu   sync.Mutex
	at   time.Time
	addr string
}

// get returns the cached address, or calls lookup when it is stale.
func (h *leaderHint) get(now time.Time, lookup func() string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.at.IsZero() || now.Sub(h.at) >= leaderHintTTL {
		h.addr, h.at = lookup(), now
	}
	return h.addr
}

// leaderFromPeers asks the servers of this cluster for the leader when Raft
// knows none here, bounded in time.
func (a *Agent) leaderFromPeers() string {
	return a.leaderHint.get(time.Now(), a.leaderAddrFromServers)
}

// ready is backend.Ready for a server.
func (a *Agent) ready() error {
	ctx, cancel := context.WithTimeout(a.ctx, 2*time.Second)
	defer cancel()
	conf, err := a.raft.GetConfiguration(ctx)
	if err != nil {
		return fmt.Errorf("%w: %v", httpapi.ErrUnavailable, err)
	}
	return readiness(a.NodeID(), a.raft.Status(), conf, a.cfg.Autopilot.MaxVoters)
}
