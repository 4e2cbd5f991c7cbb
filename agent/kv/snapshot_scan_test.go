package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
)

func TestScanSnapshotCounts(t *testing.T) {
	s := NewStore(DefaultLimits())
	for i := 1; i <= 30; i++ {
		mustOK(t, s, uint64(i), putData(t, fmt.Sprintf("k/%02d", i), "v", nil))
	}
	mustOK(t, s, 31, deleteData(t, "k/07", nil))
	sum, err := ScanSnapshot(bytes.NewReader(snapshotBytes(t, s)))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Keys != 29 || sum.Tombstones != 1 || sum.AppliedIndex != 31 {
		t.Fatalf("summary = %+v, want 29 keys, 1 tombstone, applied 31", sum)
	}
}

// TestScanSnapshotLiveTombstone: a key both live and deleted is refused by
// the scan, which keeps only hashes of live keys, as by Restore.
func TestScanSnapshotLiveTombstone(t *testing.T) {
	sb := newBuilder(2).raw(tagEntry).uv(1).raw('a').uv(1).raw('x').uv(1).uv(1).uv(0)
	sb.raw(tagTombstone).uv(1).raw('a').uv(2)
	data := sb.raw(tagTrailer).uv(1).uv(5).uv(1).uv(0).uv(0).b
	data = appendCRC(data)
	_, scanErr := ScanSnapshot(bytes.NewReader(data))
	restoreErr := restoreBytes(NewStore(DefaultLimits()), data)
	for name, err := range map[string]error{"scan": scanErr, "restore": restoreErr} {
		if !errors.Is(err, ErrCorruptSnapshot) || !strings.Contains(err.Error(), "both a live key and a tombstone") {
			t.Fatalf("%s = %v, want the live-and-tombstone refusal", name, err)
		}
	}
}

func appendCRC(b []byte) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}
