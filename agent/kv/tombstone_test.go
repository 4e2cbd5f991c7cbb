package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// tombstones lists v's tombstones as key=index strings.
func tombstones(v View) []string {
	var out []string
	for _, t := range v.Tombstones("") {
		out = append(out, t.Key+"="+strconv.FormatUint(t.DeleteIndex, 10))
	}
	return out
}

// raftLogs wraps command data as consecutive log entries from index 1.
func raftLogs(data [][]byte) []*raft.Log {
	out := make([]*raft.Log, len(data))
	for i, d := range data {
		out[i] = &raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: d}
	}
	return out
}

func TestTombstonesCompactOldestFirst(t *testing.T) {
	s := NewStore(Limits{MaxKeyBytes: 64, MaxValueBytes: 64, MaxTombstones: 2})
	for i, k := range []string{"a", "b", "c", "d"} {
		mustOK(t, s, uint64(2*i+1), putData(t, k, "v", nil))
		mustOK(t, s, uint64(2*i+2), deleteData(t, k, nil))
	}
	v := s.View()
	if got, want := tombstones(v), []string{"c=6", "d=8"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("tombstones = %v, want %v", got, want)
	}
	if v.Horizon() != 4 {
		t.Fatalf("horizon = %d, want 4 (b's delete)", v.Horizon())
	}
	// A put of a tombstoned key drops its tombstone; a delete of a
	// missing key leaves none.
	mustOK(t, s, 9, putData(t, "c", "again", nil))
	mustOK(t, s, 10, deleteData(t, "never", nil))
	if got, want := tombstones(s.View()), []string{"d=8"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("tombstones = %v, want %v", got, want)
	}
	if err := checkStore(s); err != nil {
		t.Fatal(err)
	}
}

// TestTombstonesBatchMatchesSingle: the tombstones and horizon after ApplyBatch are
// those after applying the same entries one by one (determinism does not
// depend on how raft batches).
func TestTombstonesBatchMatchesSingle(t *testing.T) {
	l := Limits{MaxKeyBytes: 64, MaxValueBytes: 64, MaxTombstones: 3}
	var logs [][]byte
	for i := range 20 {
		k := string(rune('a' + i%7))
		logs = append(logs, putData(t, k, "v", nil), deleteData(t, k, nil))
	}
	one, batch := NewStore(l), NewStore(l)
	for i, d := range logs {
		apply(one, uint64(i+1), d)
	}
	batch.ApplyBatch(raftLogs(logs))
	a, b := one.View(), batch.View()
	if !reflect.DeepEqual(tombstones(a), tombstones(b)) || a.Horizon() != b.Horizon() || a.Hash() != b.Hash() {
		t.Fatalf("single %v/%d, batch %v/%d", tombstones(a), a.Horizon(), tombstones(b), b.Horizon())
	}
}

func TestSnapshotKeepsTombstones(t *testing.T) {
	s := NewStore(Limits{MaxKeyBytes: 64, MaxValueBytes: 64, MaxTombstones: 2})
	for i, k := range []string{"a", "b", "c"} {
		mustOK(t, s, uint64(2*i+1), putData(t, k, "v", nil))
		mustOK(t, s, uint64(2*i+2), deleteData(t, k, nil))
	}
	mustOK(t, s, 7, putData(t, "z", "live", nil))
	var buf bytes.Buffer
	if err := writeSnapshot(&buf, s.View().st); err != nil {
		t.Fatal(err)
	}
	again := NewStore(s.Limits())
	if err := restoreBytes(again, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	a, b := s.View(), again.View()
	if !reflect.DeepEqual(tombstones(a), tombstones(b)) || a.Horizon() != b.Horizon() || a.Hash() != b.Hash() {
		t.Fatalf("before %v/%d, after %v/%d", tombstones(a), a.Horizon(), tombstones(b), b.Horizon())
	}
	// The restored order tree compacts like the original.
	mustOK(t, again, 8, deleteData(t, "z", nil))
	if got, want := tombstones(again.View()), []string{"c=6", "z=8"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after a delete: %v, want %v", got, want)
	}
}

// TestRestoreVersion1 restores a snapshot written by the version-1 format
// (testdata/snapshot-v1.bin: a=3 at 1/3, b/c deleted at 4, d="" at 5):
// no tombstones, and the horizon at the applied index.
func TestRestoreVersion1(t *testing.T) {
	data, err := os.ReadFile("testdata/snapshot-v1.bin")
	if err != nil {
		t.Fatal(err)
	}
	s := NewStore(DefaultLimits())
	if err := restoreBytes(s, data); err != nil {
		t.Fatal(err)
	}
	v := s.View()
	e, ok := v.Get("a")
	if !ok || string(e.Value) != "3" || e.CreateIndex != 1 || e.ModifyIndex != 3 || v.Len() != 2 {
		t.Fatalf("a = %+v %v, len %d", e, ok, v.Len())
	}
	if v.AppliedIndex() != 5 || v.Horizon() != 5 || len(v.Tombstones("")) != 0 {
		t.Fatalf("applied %d horizon %d tombstones %v", v.AppliedIndex(), v.Horizon(), v.Tombstones(""))
	}
	if idx, ready := WakeIndex(4, v.ChangeIndex(Target{Key: "b/c"}), v.Horizon()); !ready || idx != 5 {
		t.Fatalf("a watcher at 4 of the deleted b/c: index %d ready %v, want 5 true", idx, ready)
	}
}

// tombstone appends a tombstone record.
func (sb *snapBuilder) tombstone(key string, index uint64) *snapBuilder {
	return sb.raw(tagTombstone).uv(uint64(len(key))).raw([]byte(key)...).uv(index)
}

// trailer2 appends a version-2 trailer and the checksum.
func (sb *snapBuilder) trailer2(count, applied, tombs, horizon uint64) []byte {
	sb.raw(tagTrailer).uv(count).uv(applied).uv(tombs).uv(horizon).uv(0)
	return binary.BigEndian.AppendUint32(sb.b, crc32.Checksum(sb.b, castagnoli))
}

func TestRestoreRejectsBadTombstones(t *testing.T) {
	tests := map[string]struct {
		data []byte
		msg  string
	}{
		"tombstone in v1":     {newBuilder(1).tombstone("a", 1).trailer(0, 5), "unexpected record tag 0x44"},
		"entry after tomb":    {newBuilder(2).tombstone("a", 1).entry("b", "x", 2, 2).uv(0).trailer2(1, 5, 1, 0), "unexpected record tag 0x45"},
		"live and tombstoned": {newBuilder(2).entry("a", "x", 2, 2).uv(0).tombstone("a", 1).trailer2(1, 5, 1, 0), "both a live key and a tombstone"},
		"unknown lease":       {newBuilder(2).entry("a", "x", 2, 2).uv(7).trailer2(1, 5, 0, 0), "attached to lease 7, which the snapshot does not hold"},
		"out of order":        {newBuilder(2).tombstone("b", 1).tombstone("a", 2).trailer2(0, 5, 2, 0), "is not after"},
		"index zero":          {newBuilder(2).tombstone("a", 0).trailer2(0, 5, 1, 0), "delete index 0"},
		"index > applied":     {newBuilder(2).tombstone("a", 9).trailer2(0, 5, 1, 0), "delete index 9, above the applied index 5"},
		"count mismatch":      {newBuilder(2).tombstone("a", 1).trailer2(0, 5, 2, 0), "trailer says 2 tombstones"},
		"horizon > applied":   {newBuilder(2).trailer2(0, 5, 0, 6), "horizon 6 is above"},
		"bad key":             {newBuilder(2).tombstone("a//b", 1).trailer2(0, 5, 1, 0), "tombstone: invalid key"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := NewStore(DefaultLimits())
			err := restoreBytes(s, tc.data)
			if !errors.Is(err, ErrCorruptSnapshot) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Restore = %v, want a corrupt snapshot error containing %q", err, tc.msg)
			}
		})
	}
}
