//go:build unix

package raftnode

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFile is the file whose flock marks a data dir as in use.
const lockFile = "LOCK"

// dirLock is an exclusive advisory lock on a data dir, held for as long as
// a Node (or an offline command) uses it. raft-wal opens its metadata
// database without a lock timeout, so without this lock a second process
// on the same dir would hang instead of failing. The kernel drops the lock
// when the process dies, so a kill -9 never leaves a stale lock behind.
type dirLock struct{ f *os.File }

// lockDataDir takes dir's lock or fails at once with ErrDataDirInUse.
func lockDataDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("raftnode: open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked by another process or node", ErrDataDirInUse, dir)
		}
		return nil, fmt.Errorf("raftnode: lock %s: %w", path, err)
	}
	return &dirLock{f: f}, nil
}

// release drops the lock. It is safe on a nil lock.
func (l *dirLock) release() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Close() // closing the descriptor drops the flock
	l.f = nil
}
