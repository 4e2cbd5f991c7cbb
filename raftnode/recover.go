package raftnode

import (
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// OfflineStore is a stopped node's Raft state, opened and locked for an
// offline command (agent raft recover): no node can start on the data dir
// while it is open.
type OfflineStore struct {
	st     *storage
	nodeID string
	newFSM func() raft.FSM
	logger hclog.Logger
}

// OpenOffline opens dataDir's log, stable and snapshot stores the way
// NewNode does (the log store the dir holds), and takes the data dir lock.
// newFSM returns a fresh, empty state machine of the kind the node runs: it
// replays the snapshot and log for Configuration and Recover. It fails with
// ErrNoRaftState when the dir has no Raft state (nothing is created), and
// with ErrDataDirInUse when a node holds the dir.
func OpenOffline(dataDir, nodeID string, newFSM func() raft.FSM, logger hclog.Logger) (*OfflineStore, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	if fi, err := os.Stat(dataDir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrNoRaftState, dataDir)
	}
	c, err := scanDataDir(dataDir)
	if err != nil {
		return nil, err
	}
	if !c.bolt && !c.wal && len(c.leftovers) == 0 {
		// openStorage would create an empty store here.
		return nil, fmt.Errorf("%w: %s holds neither %s nor %s/", ErrNoRaftState, dataDir, boltFile, walDir)
	}
	st, err := openStorage(storageOptions{dir: dataDir, walSegmentSize: DefaultWALSegmentSize,
		retain: DefaultSnapshotRetain, logger: logger})
	if err != nil {
		return nil, err
	}
	has, err := st.hasState()
	if err == nil && !has {
		err = fmt.Errorf("%w: %s has a log store but no term, entry or snapshot", ErrNoRaftState, dataDir)
	}
	if err != nil {
		_ = st.close()
		return nil, err
	}
	return &OfflineStore{st: st, nodeID: nodeID, newFSM: newFSM, logger: logger}, nil
}

// Close closes the stores and releases the data dir lock.
func (o *OfflineStore) Close() error { return o.st.close() }

// LogStore names the log store the dir holds.
func (o *OfflineStore) LogStore() string { return o.st.kind }

// raftConfig is the minimal raft Config the offline calls validate.
func (o *OfflineStore) raftConfig() *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(o.nodeID)
	c.Logger = o.logger
	return c
}

// Configuration returns the last Raft configuration the data dir holds
// (committed or not), as the node would see it on start. It replays the
// newest snapshot into a throwaway state machine.
func (o *OfflineStore) Configuration() (Configuration, error) {
	_, trans := raft.NewInmemTransport(raft.ServerAddress(o.nodeID))
	defer func() { _ = trans.Close() }()
	cfg, err := raft.GetConfiguration(o.raftConfig(), newMetaFSM(o.newFSM()), o.st.logs, o.st.store, o.st.snaps, trans)
	if err != nil {
		return Configuration{}, fmt.Errorf("raftnode: read the raft configuration: %w", err)
	}
	out := Configuration{Index: o.st.configs.configIndex()}
	for _, s := range cfg.Servers {
		out.Servers = append(out.Servers, Server{ID: string(s.ID), Address: string(s.Address),
			Suffrage: strings.ToLower(s.Suffrage.String())})
	}
	return out, nil
}

// Recover rewrites the Raft configuration to servers, all voters, with
// raft's own RecoverCluster: it restores the newest snapshot, applies every
// entry of the log after it (entries the old cluster never committed
// included: they become committed), writes a snapshot holding that state
// and the new configuration, and compacts the log. Run it with the same
// servers on every survivor before starting any of them.
func (o *OfflineStore) Recover(servers []Server) error {
	if len(servers) == 0 {
		return fmt.Errorf("%w: no servers to recover to", ErrInvalidArgument)
	}
	var conf raft.Configuration
	for _, s := range servers {
		if err := checkServer(s.ID, s.Address); err != nil {
			return err
		}
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter,
			ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Address)})
	}
	_, trans := raft.NewInmemTransport(raft.ServerAddress(o.nodeID))
	defer func() { _ = trans.Close() }()
	err := raft.RecoverCluster(o.raftConfig(), newMetaFSM(o.newFSM()), o.st.logs, o.st.store, o.st.snaps, trans, conf)
	if err != nil {
		return fmt.Errorf("raftnode: recover: %w", err)
	}
	return nil
}
