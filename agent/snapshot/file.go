package snapshot

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// WriteFileAtomic creates path with what write writes, so that path is
// either complete or absent: the data goes to a temporary file in the same
// directory, which is synced, renamed over path, and the directory synced.
// On any error the temporary file is removed and path is untouched.
func WriteFileAtomic(path string, write func(f *os.File) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("snapshot: create a temporary file beside %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("snapshot: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("snapshot: close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("snapshot: rename to %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("snapshot: open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("snapshot: sync directory %s: %w", dir, err)
	}
	return nil
}

// Scheduled snapshot files are named FilePrefix + UTC time + FileSuffix, so
// that their names sort by age.
const (
	FilePrefix = "snapshot-"
	FileSuffix = ".snap"
	timeLayout = "20060102T150405.000000000Z"
)

// FileName names a scheduled snapshot taken at t.
func FileName(t time.Time) string {
	return FilePrefix + t.UTC().Format(timeLayout) + FileSuffix
}

// Prune returns which of names (a directory listing) to delete so that the
// newest retain scheduled snapshots remain. Names that are not scheduled
// snapshots are never chosen; retain below 1 keeps one.
func Prune(names []string, retain int) []string {
	retain = max(retain, 1)
	var ours []string
	for _, n := range names {
		ts, ok := strings.CutPrefix(n, FilePrefix)
		if !ok {
			continue
		}
		ts, ok = strings.CutSuffix(ts, FileSuffix)
		if _, err := time.Parse(timeLayout, ts); !ok || err != nil {
			continue
		}
		ours = append(ours, n)
	}
	if len(ours) <= retain {
		return nil
	}
	sort.Strings(ours)
	return ours[:len(ours)-retain]
}
