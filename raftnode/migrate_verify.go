package raftnode

import (
	"bytes"
	"context"
	"fmt"

	"github.com/hashicorp/raft"
)

// The stable store keys hashicorp/raft writes; migrate.CopyStable copies
// exactly these.
var (
	stableUint64Keys = []string{"CurrentTerm", "LastVoteTerm"}
	stableBytesKeys  = []string{"LastVoteCand"}
)

// lenientStable reads a stable store the way raft does: a key never set
// reads as zero. raft-boltdb reports such a key as an error ("not found",
// which raft itself tolerates by that text), raft-wal as zero; without this
// a node that never voted could not be copied from BoltDB.
type lenientStable struct{ raft.StableStore }

// Get returns nil for a key never set.
func (s lenientStable) Get(key []byte) ([]byte, error) {
	v, err := s.StableStore.Get(key)
	if err != nil && err.Error() == "not found" {
		return nil, nil
	}
	return v, err
}

// GetUint64 returns 0 for a key never set.
func (s lenientStable) GetUint64(key []byte) (uint64, error) {
	v, err := s.StableStore.GetUint64(key)
	if err != nil && err.Error() == "not found" {
		return 0, nil
	}
	return v, err
}

// copySummary is what verifyCopy checked.
type copySummary struct {
	first, last, entries uint64
	bytes                int64
}

// verifyCopy checks that dst holds exactly src's log (same first and last
// index, every entry equal in every field) and the same stable state. Any
// difference is an ErrMigrationMismatch naming the first one found.
func verifyCopy(ctx context.Context, src, dst logStableStore) (copySummary, error) {
	var sum copySummary
	var err error
	if sum.first, sum.last, err = sameBounds(src, dst); err != nil {
		return sum, err
	}
	for idx := sum.first; sum.last > 0 && idx <= sum.last; idx++ {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		var a, b raft.Log
		if err := src.GetLog(idx, &a); err != nil {
			return sum, fmt.Errorf("raftnode: read source entry %d: %w", idx, err)
		}
		if err := dst.GetLog(idx, &b); err != nil {
			return sum, fmt.Errorf("%w: entry %d unreadable in the copy: %v", ErrMigrationMismatch, idx, err)
		}
		if diff := logDiff(&a, &b); diff != "" {
			return sum, fmt.Errorf("%w: entry %d differs: %s", ErrMigrationMismatch, idx, diff)
		}
		sum.entries++
		sum.bytes += int64(len(a.Data) + len(a.Extensions))
	}
	return sum, sameStable(src, dst)
}

// sameBounds returns src's first and last index if dst's are the same.
func sameBounds(src, dst raft.LogStore) (first, last uint64, err error) {
	read := func(s raft.LogStore, what string) (uint64, uint64, error) {
		f, err := s.FirstIndex()
		if err != nil {
			return 0, 0, fmt.Errorf("raftnode: %s first index: %w", what, err)
		}
		l, err := s.LastIndex()
		if err != nil {
			return 0, 0, fmt.Errorf("raftnode: %s last index: %w", what, err)
		}
		return f, l, nil
	}
	first, last, err = read(src, "source")
	if err != nil {
		return 0, 0, err
	}
	dFirst, dLast, err := read(dst, "copy")
	if err != nil {
		return 0, 0, err
	}
	if dFirst != first || dLast != last {
		return 0, 0, fmt.Errorf("%w: the copy holds entries [%d, %d], the source [%d, %d]",
			ErrMigrationMismatch, dFirst, dLast, first, last)
	}
	return first, last, nil
}

// logDiff names the first field in which a and b differ, or returns "".
// AppendedAt is compared as an instant: the stores may decode it with a
// different location or without the monotonic reading.
func logDiff(a, b *raft.Log) string {
	switch {
	case a.Index != b.Index:
		return fmt.Sprintf("index %d, copy %d", a.Index, b.Index)
	case a.Term != b.Term:
		return fmt.Sprintf("term %d, copy %d", a.Term, b.Term)
	case a.Type != b.Type:
		return fmt.Sprintf("type %s, copy %s", a.Type, b.Type)
	case !bytes.Equal(a.Data, b.Data):
		return fmt.Sprintf("data of %d bytes, copy %d bytes with other content", len(a.Data), len(b.Data))
	case !bytes.Equal(a.Extensions, b.Extensions):
		return fmt.Sprintf("extensions of %d bytes, copy %d bytes with other content", len(a.Extensions), len(b.Extensions))
	case !a.AppendedAt.Equal(b.AppendedAt):
		return fmt.Sprintf("appended at %s, copy %s", a.AppendedAt, b.AppendedAt)
	}
	return ""
}

// sameStable compares the stable state raft keeps, reading unset keys as
// zero on both sides (raft makes no difference between the two).
func sameStable(src, dst raft.StableStore) error {
	s, d := lenientStable{src}, lenientStable{dst}
	for _, k := range stableUint64Keys {
		a, err := s.GetUint64([]byte(k))
		if err != nil {
			return fmt.Errorf("raftnode: read source %s: %w", k, err)
		}
		b, err := d.GetUint64([]byte(k))
		if err != nil {
			return fmt.Errorf("%w: %s unreadable in the copy: %v", ErrMigrationMismatch, k, err)
		}
		if a != b {
			return fmt.Errorf("%w: %s is %d, copy %d", ErrMigrationMismatch, k, a, b)
		}
	}
	for _, k := range stableBytesKeys {
		a, err := s.Get([]byte(k))
		if err != nil {
			return fmt.Errorf("raftnode: read source %s: %w", k, err)
		}
		b, err := d.Get([]byte(k))
		if err != nil {
			return fmt.Errorf("%w: %s unreadable in the copy: %v", ErrMigrationMismatch, k, err)
		}
		if !bytes.Equal(a, b) {
			return fmt.Errorf("%w: %s is %q, copy %q", ErrMigrationMismatch, k, a, b)
		}
	}
	return nil
}
