package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/raft"
)

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (m *memSink) ID() string    { return "mem" }
func (m *memSink) Cancel() error { m.cancelled = true; return nil }
func (m *memSink) Close() error  { m.closed = true; return nil }

// snapshotBytes persists a snapshot of s into memory.
func snapshotBytes(t testing.TB, s *Store) []byte {
	t.Helper()
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	defer snap.Release()
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	if !sink.closed || sink.cancelled {
		t.Fatalf("Persist left the sink closed=%v cancelled=%v", sink.closed, sink.cancelled)
	}
	return sink.Bytes()
}

func restoreBytes(s *Store, b []byte) error {
	return s.Restore(io.NopCloser(bytes.NewReader(b)))
}

// sampleStore holds keys of every shape: unicode, an empty value, a value
// written outside the record buffer, keys deleted again, and a last entry
// that changes nothing (a failed compare), so the applied index is above
// every modify.
func sampleStore(t testing.TB) *Store {
	s := NewStore(DefaultLimits())
	big := strings.Repeat("0123456789", 10_000)
	cmds := [][]byte{
		putData(t, "a", "1", nil),
		putData(t, "a/b/c", big, nil),
		putData(t, "empty", "", nil),
		putData(t, "région/ключ", "\x00\xff", nil),
		putData(t, "gone", "x", nil),
		deleteData(t, "gone", nil),
		putData(t, "a", "2", ptr(1)),
	}
	for i := 0; i < 300; i++ {
		cmds = append(cmds, putData(t, fmt.Sprintf("many/%04d", i), fmt.Sprint(i), nil))
	}
	for i, c := range cmds {
		mustOK(t, s, uint64(i+1), c)
	}
	apply(s, uint64(len(cmds)+5), deleteData(t, "absent", ptr(7)))
	return s
}

func TestSnapshotRoundTrip(t *testing.T) {
	src := sampleStore(t)
	data := snapshotBytes(t, src)

	dst := NewStore(DefaultLimits())
	mustOK(t, dst, 1, putData(t, "stale/key", "dropped by restore", nil))
	if err := restoreBytes(dst, data); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if dst.Hash() != src.Hash() || dst.Len() != src.Len() || dst.AppliedIndex() != src.AppliedIndex() {
		t.Fatalf("restored store differs: len %d/%d applied %d/%d", dst.Len(), src.Len(), dst.AppliedIndex(), src.AppliedIndex())
	}
	if !reflect.DeepEqual(dst.List(""), src.List("")) {
		t.Fatal("restored entries differ")
	}
	if _, ok := dst.Get("stale/key"); ok {
		t.Fatal("restore kept a key that was not in the snapshot")
	}
	if again := snapshotBytes(t, dst); !bytes.Equal(again, data) {
		t.Fatal("a snapshot of the restored store is not byte-identical")
	}
	next := dst.AppliedIndex() + 1
	mustOK(t, dst, next, putData(t, "a", "3", ptr(7)))
	if e, _ := dst.Get("a"); e.CreateIndex != 1 || e.ModifyIndex != next {
		t.Fatalf("after restore, put gave %+v", e)
	}
}

func TestSnapshotEmpty(t *testing.T) {
	data := snapshotBytes(t, NewStore(DefaultLimits()))
	dst := sampleStore(t)
	if err := restoreBytes(dst, data); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if dst.Len() != 0 || dst.AppliedIndex() != 0 || dst.Hash() != NewStore(DefaultLimits()).Hash() {
		t.Fatalf("restoring an empty snapshot left len %d applied %d", dst.Len(), dst.AppliedIndex())
	}
}

// snapBuilder writes arbitrary snapshot streams with a correct checksum,
// to show that Restore checks meaning and not only the checksum.
type snapBuilder struct{ b []byte }

func newBuilder(version byte) *snapBuilder {
	return &snapBuilder{b: append([]byte(snapshotMagic), version)}
}

func (sb *snapBuilder) raw(p ...byte) *snapBuilder { sb.b = append(sb.b, p...); return sb }

func (sb *snapBuilder) uv(v uint64) *snapBuilder { sb.b = binary.AppendUvarint(sb.b, v); return sb }

func (sb *snapBuilder) entry(key, value string, create, modify uint64) *snapBuilder {
	sb.raw(tagEntry).uv(uint64(len(key))).raw([]byte(key)...)
	return sb.uv(uint64(len(value))).raw([]byte(value)...).uv(create).uv(modify)
}

// trailer appends the trailer and the checksum.
func (sb *snapBuilder) trailer(count, applied uint64) []byte {
	sb.raw(tagTrailer).uv(count).uv(applied)
	return binary.BigEndian.AppendUint32(sb.b, crc32.Checksum(sb.b, castagnoli))
}

func TestRestoreRejects(t *testing.T) {
	valid := newBuilder(1).entry("a", "x", 1, 2).entry("b", "", 3, 3).trailer(2, 5)
	tests := map[string]struct {
		data []byte
		want error
		msg  string
	}{
		"empty stream":       {data: nil, want: ErrCorruptSnapshot, msg: "truncated in the header"},
		"bad magic":          {data: append([]byte("{\"count\""), valid[8:]...), want: ErrCorruptSnapshot, msg: "not a key/value snapshot"},
		"newer version":      {data: newBuilder(3).trailer(0, 0), want: ErrUnsupportedSnapshot, msg: "version 3"},
		"no trailer":         {data: newBuilder(1).entry("a", "x", 1, 1).b, want: ErrCorruptSnapshot, msg: "truncated before the trailer"},
		"bad checksum":       {data: append(valid[:len(valid)-1:len(valid)-1], valid[len(valid)-1]^1), want: ErrCorruptSnapshot, msg: "checksum mismatch"},
		"data after trailer": {data: append(valid[:len(valid):len(valid)], 0), want: ErrCorruptSnapshot, msg: "data after the trailer"},
		"count mismatch":     {data: newBuilder(1).entry("a", "x", 1, 1).trailer(2, 5), want: ErrCorruptSnapshot, msg: "trailer says 2 entries, the stream has 1"},
		"modify > applied":   {data: newBuilder(1).entry("a", "x", 1, 9).trailer(1, 5), want: ErrCorruptSnapshot, msg: "modify index 9, above the applied index 5"},
		"out of order":       {data: newBuilder(1).entry("b", "x", 1, 1).entry("a", "x", 1, 1).trailer(2, 5), want: ErrCorruptSnapshot, msg: "out of order"},
		"duplicate key":      {data: newBuilder(1).entry("a", "x", 1, 1).entry("a", "y", 2, 2).trailer(2, 5), want: ErrCorruptSnapshot, msg: "out of order"},
		"invalid key":        {data: newBuilder(1).entry("a//b", "x", 1, 1).trailer(1, 5), want: ErrCorruptSnapshot, msg: "empty segment"},
		"create zero":        {data: newBuilder(1).entry("a", "x", 0, 1).trailer(1, 5), want: ErrCorruptSnapshot, msg: "create index 0"},
		"modify < create":    {data: newBuilder(1).entry("a", "x", 4, 3).trailer(1, 5), want: ErrCorruptSnapshot, msg: "create index 4 and modify index 3"},
		"unknown tag":        {data: newBuilder(1).raw('X').trailer(0, 0), want: ErrCorruptSnapshot, msg: "unexpected record tag 0x58"},
		"huge key length":    {data: newBuilder(1).raw(tagEntry).uv(MaxKeyBytesCeiling+1).trailer(0, 0), want: ErrCorruptSnapshot, msg: "key length 65537 exceeds"},
		"huge value length":  {data: newBuilder(1).raw(tagEntry).uv(1).raw('a').uv(1<<40).trailer(0, 0), want: ErrCorruptSnapshot, msg: "value length 1099511627776 exceeds"},
		"varint overflow":    {data: newBuilder(1).raw(tagTrailer).raw(bytes.Repeat([]byte{0xff}, 11)...).b, want: ErrCorruptSnapshot, msg: "entry count: binary: varint overflows"},
		"truncated value":    {data: newBuilder(1).raw(tagEntry).uv(1).raw('a').uv(100).raw('x').b, want: ErrCorruptSnapshot, msg: "truncated in a value"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ScanSnapshot(bytes.NewReader(tc.data)); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("ScanSnapshot = %v, want %v containing %q", err, tc.want, tc.msg)
			}
			s := sampleStore(t)
			hash, applied := s.Hash(), s.AppliedIndex()
			err := restoreBytes(s, tc.data)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Restore = %v, want %v containing %q", err, tc.want, tc.msg)
			}
			if s.Hash() != hash || s.AppliedIndex() != applied {
				t.Fatal("a failed restore changed the store")
			}
		})
	}
	if err := restoreBytes(NewStore(DefaultLimits()), valid); err != nil {
		t.Fatalf("the valid base stream does not restore: %v", err)
	}
}

// TestRestoreEveryTruncationAndBitFlip cuts a real snapshot at every
// length and flips one bit at every offset: each must fail and leave the
// store as it was.
func TestRestoreEveryTruncationAndBitFlip(t *testing.T) {
	src := NewStore(DefaultLimits())
	for i := 1; i <= 12; i++ {
		mustOK(t, src, uint64(i), putData(t, fmt.Sprintf("k/%02d", i), strings.Repeat("v", i*3), nil))
	}
	data := snapshotBytes(t, src)
	dst := sampleStore(t)
	hash, applied := dst.Hash(), dst.AppliedIndex()
	check := func(what string, b []byte) {
		err := restoreBytes(dst, b)
		if !errors.Is(err, ErrCorruptSnapshot) && !errors.Is(err, ErrUnsupportedSnapshot) {
			t.Fatalf("%s: Restore = %v, want a corrupt-snapshot error", what, err)
		}
		if dst.Hash() != hash || dst.AppliedIndex() != applied {
			t.Fatalf("%s: a failed restore changed the store", what)
		}
	}
	for n := 0; n < len(data); n++ {
		check(fmt.Sprintf("cut at %d of %d", n, len(data)), data[:n])
	}
	for i := range data {
		for _, bit := range []byte{0x01, 0x80} {
			flipped := bytes.Clone(data)
			flipped[i] ^= bit
			check(fmt.Sprintf("bit %#x flipped at %d", bit, i), flipped)
		}
	}
}

// failingReader returns its data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestRestoreReadError(t *testing.T) {
	data := snapshotBytes(t, sampleStore(t))
	ioErr := errors.New("disk on fire")
	s := NewStore(DefaultLimits())
	mustOK(t, s, 1, putData(t, "k", "v", nil))
	hash := s.Hash()
	err := s.Restore(io.NopCloser(&failingReader{data: data[:len(data)/2], err: ioErr}))
	if !errors.Is(err, ioErr) || errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("Restore = %v, want the read error, not a corruption", err)
	}
	if s.Hash() != hash {
		t.Fatal("a failed restore changed the store")
	}
}

// failSink fails every write.
type failSink struct{ memSink }

func (f *failSink) Write([]byte) (int, error) { return 0, errors.New("no space left") }

func TestPersistSinkError(t *testing.T) {
	snap, _ := sampleStore(t).Snapshot()
	sink := &failSink{}
	if err := snap.Persist(sink); err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("Persist = %v, want the sink's error", err)
	}
	if !sink.cancelled || sink.closed {
		t.Fatalf("sink cancelled=%v closed=%v, want cancelled only", sink.cancelled, sink.closed)
	}
}

// gateSink holds Persist's first write until the gate opens, so the test
// can apply entries while a Persist is provably in progress.
type gateSink struct {
	raft.SnapshotSink
	started chan struct{}
	gate    chan struct{}
	once    sync.Once
}

func (g *gateSink) Write(p []byte) (int, error) {
	g.once.Do(func() {
		close(g.started)
		<-g.gate
	})
	return g.SnapshotSink.Write(p)
}

func TestPersistConcurrentWithApply(t *testing.T) {
	store, err := raft.NewFileSnapshotStore(t.TempDir(), 1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := NewStore(DefaultLimits())
	var index uint64
	write := func(n int) {
		for i := 0; i < n; i++ {
			index++
			mustOK(t, s, index, putData(t, fmt.Sprintf("k/%d", index%3000), strings.Repeat("x", 40), nil))
		}
	}
	write(5000)
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	wantHash, wantApplied, wantLen := s.Hash(), s.AppliedIndex(), s.Len()
	fileSink, err := store.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink := &gateSink{SnapshotSink: fileSink, started: make(chan struct{}), gate: make(chan struct{})}
	persisted := make(chan error, 1)
	go func() { persisted <- snap.Persist(sink) }()

	<-sink.started
	write(2000) // Persist is parked mid-stream
	close(sink.gate)
	write(2000) // and running
	if err := <-persisted; err != nil {
		t.Fatalf("Persist: %v", err)
	}
	snap.Release()

	metas, err := store.List()
	if err != nil || len(metas) != 1 {
		t.Fatalf("List snapshots = %v, %v", metas, err)
	}
	_, rc, err := store.Open(metas[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	restored := NewStore(DefaultLimits())
	if err := restored.Restore(rc); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if restored.Hash() != wantHash || restored.AppliedIndex() != wantApplied || restored.Len() != wantLen {
		t.Fatalf("restored applied %d len %d, want the snapshot's %d and %d", restored.AppliedIndex(), restored.Len(), wantApplied, wantLen)
	}
	if s.Hash() == wantHash {
		t.Fatal("the live store did not move on while persisting")
	}
}

func FuzzRestore(f *testing.F) {
	small := NewStore(DefaultLimits())
	mustOK(f, small, 1, putData(f, "a", "x", nil))
	mustOK(f, small, 2, putData(f, "a/b", "", nil))
	valid := snapshotBytes(f, small)
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(snapshotBytes(f, NewStore(DefaultLimits())))
	f.Add(newBuilder(1).entry("b", "x", 1, 1).entry("a", "x", 1, 1).trailer(2, 5))
	f.Add([]byte(snapshotMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewStore(DefaultLimits())
		mustOK(t, s, 1, putData(t, "keep", "me", nil))
		hash := s.Hash()
		// ScanSnapshot is the check run before raft restores a stream,
		// where a refusal by Restore would be fatal: it must agree.
		_, scanErr := ScanSnapshot(bytes.NewReader(data))
		err := restoreBytes(s, data)
		if (scanErr == nil) != (err == nil) {
			t.Fatalf("ScanSnapshot = %v but Restore = %v", scanErr, err)
		}
		if err != nil {
			if s.Hash() != hash || s.AppliedIndex() != 1 {
				t.Fatalf("failed restore (%v) changed the store", err)
			}
			return
		}
		if err := checkStore(s); err != nil {
			t.Fatalf("restored an invalid state: %v", err)
		}
	})
}

// checkStore verifies invariants any reachable state has, and that it
// survives a snapshot round trip unchanged.
func checkStore(s *Store) error {
	v := s.View()
	entries := v.List("")
	if len(entries) != v.Len() {
		return fmt.Errorf("List has %d entries, Len says %d", len(entries), v.Len())
	}
	for i, e := range entries {
		if i > 0 && entries[i-1].Key >= e.Key {
			return fmt.Errorf("List not strictly sorted at %q", e.Key)
		}
		if err := ValidateKey(e.Key, ceilingLimits); err != nil {
			return err
		}
		if e.CreateIndex == 0 || e.CreateIndex > e.ModifyIndex || e.ModifyIndex > v.AppliedIndex() {
			return fmt.Errorf("entry %q has indexes %d/%d with applied %d", e.Key, e.CreateIndex, e.ModifyIndex, v.AppliedIndex())
		}
	}
	var buf bytes.Buffer
	if err := writeSnapshot(&buf, v.st); err != nil {
		return err
	}
	again := NewStore(s.Limits())
	if err := restoreBytes(again, buf.Bytes()); err != nil {
		return fmt.Errorf("round trip: %w", err)
	}
	if again.Hash() != v.Hash() || again.AppliedIndex() != v.AppliedIndex() {
		return errors.New("round trip changed the state")
	}
	if a, b := again.View(), v; !reflect.DeepEqual(a.Tombstones(""), b.Tombstones("")) || a.Horizon() != b.Horizon() {
		return errors.New("round trip changed the tombstones")
	}
	for _, tomb := range v.Tombstones("") {
		if _, live := v.Get(tomb.Key); live || tomb.DeleteIndex > v.AppliedIndex() || tomb.DeleteIndex <= v.Horizon() {
			return fmt.Errorf("tombstone %+v: live %v, applied %d, horizon %d", tomb, live, v.AppliedIndex(), v.Horizon())
		}
	}
	return nil
}
