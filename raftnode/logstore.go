package raftnode

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Log store names, as Options.LogStore, the raft.log_store config key and
// Status.LogStore spell them.
const (
	// LogStoreWAL is hashicorp/raft-wal: append-only segment files with one
	// fsync per append, under DataDir/wal. The default for a new data dir.
	LogStoreWAL = "wal"
	// LogStoreBoltDB is hashicorp/raft-boltdb/v2: one B+tree file,
	// DataDir/raft.db, two fsyncs per commit. Kept for data dirs that have
	// it, and selectable for new ones.
	LogStoreBoltDB = "boltdb"
)

// On-disk names inside DataDir. The suffixes mark a store mid-migration
// (tmpSuffix: a copy still being written, never authoritative) and the
// store a migration replaced (backupSuffix: kept until the next successful
// start, so an operator can roll back by hand).
const (
	walDir       = "wal"
	tmpSuffix    = ".tmp"
	backupSuffix = ".backup"
)

// storeFile is the file or directory that holds store's log and stable
// state inside a data dir.
func storeFile(store string) string {
	if store == LogStoreBoltDB {
		return boltFile
	}
	return walDir
}

// otherStore returns the store that is not store.
func otherStore(store string) string {
	if store == LogStoreBoltDB {
		return LogStoreWAL
	}
	return LogStoreBoltDB
}

// validLogStore reports whether name is a log store this package knows.
func validLogStore(name string) bool {
	return name == LogStoreWAL || name == LogStoreBoltDB
}

// dirContents is what a data dir holds that bears on the choice of log
// store: which of the stores' files exist, and any leftovers of a
// migration.
type dirContents struct {
	bolt, wal bool
	// leftovers are the names of *.tmp and *.backup store files present.
	leftovers []string
}

// scanDataDir looks for the store files in dir. A missing dir is empty.
func scanDataDir(dir string) (dirContents, error) {
	var c dirContents
	exists := func(name string) (bool, error) {
		_, err := os.Stat(filepath.Join(dir, name))
		switch {
		case err == nil:
			return true, nil
		case os.IsNotExist(err):
			return false, nil
		default:
			return false, fmt.Errorf("raftnode: inspect %s: %w", filepath.Join(dir, name), err)
		}
	}
	var err error
	if c.bolt, err = exists(boltFile); err != nil {
		return c, err
	}
	if c.wal, err = exists(walDir); err != nil {
		return c, err
	}
	for _, store := range []string{LogStoreBoltDB, LogStoreWAL} {
		for _, suffix := range []string{tmpSuffix, backupSuffix} {
			name := storeFile(store) + suffix
			ok, err := exists(name)
			if err != nil {
				return c, err
			}
			if ok {
				c.leftovers = append(c.leftovers, name)
			}
		}
	}
	return c, nil
}

// storeChoice is chooseLogStore's answer: the store to open and, for the
// start-up log line, why.
type storeChoice struct {
	store  string
	reason string
}

// chooseLogStore decides which log store a node opens, from what the data
// dir holds and what was asked for. Existing state always wins over the
// setting: opening the other store would look like an empty log, and a
// node with an empty log can vote as if it had never acknowledged
// anything. It refuses, rather than guesses, when the dir holds both
// stores or only the remains of an unfinished migration.
func chooseLogStore(requested string, c dirContents) (storeChoice, error) {
	if requested == "" {
		requested = LogStoreWAL
	}
	if !validLogStore(requested) {
		return storeChoice{}, fmt.Errorf("%w: LogStore %q must be %q or %q", ErrInvalidOptions, requested, LogStoreWAL, LogStoreBoltDB)
	}
	switch {
	case c.bolt && c.wal:
		return storeChoice{}, fmt.Errorf("%w: the data dir holds both %s and %s/; refusing to guess which is current "+
			"(move the one that is not aside)", ErrStoreConflict, boltFile, walDir)
	case c.bolt || c.wal:
		found := LogStoreWAL
		if c.bolt {
			found = LogStoreBoltDB
		}
		reason := "data dir holds " + displayName(found)
		if found != requested {
			reason += fmt.Sprintf("; raft.log_store = %q does not apply to existing state "+
				"(convert it with: agent raft migrate-store -to %s)", requested, requested)
		}
		return storeChoice{store: found, reason: reason}, nil
	case len(c.leftovers) > 0:
		return storeChoice{}, fmt.Errorf("%w: the data dir holds no %s and no %s/ but %s, left by an unfinished "+
			"migration; run agent raft migrate-store again to finish it, or rename the backup back",
			ErrStoreConflict, boltFile, walDir, strings.Join(c.leftovers, " and "))
	}
	return storeChoice{store: requested, reason: "new data dir"}, nil
}

// displayName is how messages name a store's file: raft.db or wal/.
func displayName(store string) string {
	if store == LogStoreWAL {
		return walDir + "/"
	}
	return boltFile
}
