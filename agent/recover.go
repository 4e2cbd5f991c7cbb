package agent

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/clusteragent/agent/agent/kv"
	"github.com/clusteragent/agent/raftnode"
)

// ErrRecovery is wrapped by every refusal of an outage recovery plan.
var ErrRecovery = errors.New("raft recover")

// OfflineServer is a stopped server's data dir, opened and locked for
// `agent raft recover`. No agent can start on it while it is open.
type OfflineServer struct {
	nodeID string
	store  *raftnode.OfflineStore
}

// OpenOfflineServer opens a stopped server's data dir: its node ID and its
// Raft state. It refuses a dir with no node ID or no Raft state, and one an
// agent holds (raftnode.ErrDataDirInUse).
func OpenOfflineServer(dataDir string, logger hclog.Logger) (*OfflineServer, error) {
	id, err := readIDFile(filepath.Join(dataDir, nodeIDFile))
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, fmt.Errorf("%w: %s has no %s: not an agent data dir, or one that never started", raftnode.ErrNoRaftState, dataDir, nodeIDFile)
	}
	// The agent's own state machine replays the snapshot and log, so the
	// snapshot recovery writes is one the agent restores.
	newFSM := func() raft.FSM { return kv.NewStore(storeLimits()) }
	st, err := raftnode.OpenOffline(dataDir, id, newFSM, logger)
	if err != nil {
		return nil, err
	}
	return &OfflineServer{nodeID: id, store: st}, nil
}

// NodeID is the server's node ID from its data dir.
func (s *OfflineServer) NodeID() string { return s.nodeID }

// LastConfiguration is the Raft configuration the data dir last knew.
func (s *OfflineServer) LastConfiguration() (raftnode.Configuration, error) {
	return s.store.Configuration()
}

// Recover rewrites the Raft configuration to servers (see PlanRecovery).
func (s *OfflineServer) Recover(servers []raftnode.Server) error { return s.store.Recover(servers) }

// Close releases the data dir.
func (s *OfflineServer) Close() error { return s.store.Close() }

// PlanRecovery decides the configuration an outage recovery writes: the
// given peers (ID to host:port), or, with none, this server alone at its
// last known address. Every server is a voter. It refuses a list without
// this node (the node would not be part of the cluster it rewrites), two
// servers at one address, and addresses that are not host:port.
func PlanRecovery(nodeID string, last raftnode.Configuration, peers map[string]string) ([]raftnode.Server, error) {
	if len(peers) == 0 {
		for _, s := range last.Servers {
			if s.ID == nodeID {
				return []raftnode.Server{{ID: nodeID, Address: s.Address, Suffrage: "voter"}}, nil
			}
		}
		return nil, fmt.Errorf("%w: %s is not in its last known configuration, so its address is unknown; "+
			"give it with -peer %s=HOST:PORT", ErrRecovery, nodeID, nodeID)
	}
	if _, ok := peers[nodeID]; !ok {
		return nil, fmt.Errorf("%w: the peer list does not contain this server (%s); every survivor must be in it", ErrRecovery, nodeID)
	}
	byAddr := make(map[string]string, len(peers))
	out := make([]raftnode.Server, 0, len(peers))
	for id, addr := range peers {
		host, port, err := net.SplitHostPort(addr)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || host == "" || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("%w: peer %s: address %q is not HOST:PORT", ErrRecovery, id, addr)
		}
		if other, dup := byAddr[addr]; dup {
			return nil, fmt.Errorf("%w: peers %s and %s have the same address %s", ErrRecovery, other, id, addr)
		}
		byAddr[addr] = id
		out = append(out, raftnode.Server{ID: id, Address: addr, Suffrage: "voter"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
