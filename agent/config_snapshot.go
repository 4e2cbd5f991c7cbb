package agent

import (
	"path/filepath"
	"time"
)

// SnapshotConfig (snapshot block) schedules snapshots of the replicated
// state, taken by the leader into a local directory.
type SnapshotConfig struct {
	// Interval (snapshot.interval) between scheduled snapshots; 0 (the
	// default) turns them off.
	Interval time.Duration
	// Retain (snapshot.retain) is how many scheduled snapshots to keep in
	// Path; older ones are deleted after each success. Default 24.
	Retain int
	// Path (snapshot.path) is the directory they are written to. Default
	// "" means DataDir/backups.
	Path string
}

// minSnapshotInterval keeps a mistyped interval ("1ms") from turning the
// leader into a snapshot loop.
const minSnapshotInterval = time.Second

func (s SnapshotConfig) validate() error {
	if s.Interval != 0 && s.Interval < minSnapshotInterval {
		return fieldErr("snapshot.interval", "must be 0 (off) or at least %s, got %s", minSnapshotInterval, s.Interval)
	}
	if s.Retain < 1 {
		return fieldErr("snapshot.retain", "must be at least 1, got %d", s.Retain)
	}
	return nil
}

// dir is where scheduled snapshots go.
func (s SnapshotConfig) dir(dataDir string) string {
	if s.Path != "" {
		return s.Path
	}
	return filepath.Join(dataDir, "backups")
}
