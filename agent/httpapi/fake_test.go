package httpapi

import (
	"context"
	"sync"
)

// fakeBackend is a Backend whose answers the test sets. It records the
// operator calls it received so forwarding tests can see who did the work.
type fakeBackend struct {
	mu         sync.Mutex
	status     Status
	members    []Member
	raftCfg    RaftConfiguration
	health     AutopilotHealth
	stats      ServerStats
	err        error // returned by every method that can fail
	readyErr   error
	leader     bool
	leaderAddr string
	removed    []string
	transfers  []string
	leaves     int
	reloads    int
	kv         *fakeKV      // created on first use
	keyring    *fakeKeyring // keyring_test.go; created on first use
}

func (f *fakeBackend) set(fn func(f *fakeBackend)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeBackend) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

func (f *fakeBackend) Members() []Member {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.members
}

func (f *fakeBackend) RaftConfiguration(context.Context) (RaftConfiguration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.raftCfg, f.err
}

func (f *fakeBackend) RemovePeer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.removed = append(f.removed, id)
	return nil
}

func (f *fakeBackend) TransferLeadership(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.transfers = append(f.transfers, id)
	return nil
}

func (f *fakeBackend) AutopilotHealth(context.Context) (AutopilotHealth, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.health, f.err
}

func (f *fakeBackend) Ready() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.readyErr
}

func (f *fakeBackend) Leave(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.leaves++
	return nil
}

func (f *fakeBackend) Reload(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.reloads++
	return nil
}

func (f *fakeBackend) ServerStats() ServerStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

func (f *fakeBackend) LeaderHTTPAddr() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leaderAddr
}

func (f *fakeBackend) IsLeader() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leader
}

func (f *fakeBackend) calls() (removed, transfers []string, leaves int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.removed...), append([]string(nil), f.transfers...), f.leaves
}

func newLeaderBackend() *fakeBackend {
	return &fakeBackend{
		leader: true,
		status: Status{NodeID: "n1", ClusterID: "c1", State: "leader", LeaderID: "n1",
			LeaderAddr: "127.0.0.1:7000", Term: 3, CommitIndex: 10, AppliedIndex: 10,
			LastContact: "0s", Server: true},
		members: []Member{
			{ID: "n1", Addr: "127.0.0.1:7946", Status: "alive", RaftAddr: "127.0.0.1:7000", Role: "server", Zone: "a"},
			{ID: "n2", Addr: "127.0.0.1:7947", Status: "suspect", RaftAddr: "127.0.0.1:7001", Role: "server", Zone: "b"},
		},
		raftCfg: RaftConfiguration{Index: 7, Servers: []RaftServer{
			{ID: "n1", Address: "127.0.0.1:7000", Suffrage: "voter", Leader: true},
			{ID: "n2", Address: "127.0.0.1:7001", Suffrage: "nonvoter"},
		}},
		health: AutopilotHealth{Healthy: true, FailureTolerance: 0, Leader: "n1", Voters: []string{"n1"},
			Servers: []AutopilotServer{{ID: "n1", Healthy: true, Voter: true, Leader: true}}},
		stats: ServerStats{NodeID: "n1", ClusterID: "c1", LastContactNanos: 0, LastTerm: 3, LastIndex: 10, HasState: true,
			ServerIDs: []string{"n1", "n2"}},
	}
}
