//go:build !unix

package raftnode

// dirLock is a no-op where flock is not available; BoltDB's own lock (with
// its one-second timeout) still guards raft.db there.
type dirLock struct{}

func lockDataDir(string) (*dirLock, error) { return &dirLock{}, nil }

func (l *dirLock) release() {}
