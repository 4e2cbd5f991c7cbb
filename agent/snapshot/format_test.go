package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clusteragent/agent/agent/kv"
)

// kvState returns a real key/value snapshot stream of n keys, one lease
// and one tombstone, and the index it was taken at.
func kvState(t testing.TB, n int) ([]byte, uint64) {
	t.Helper()
	st := kv.NewStore(kv.DefaultLimits())
	idx := uint64(0)
	apply := func(m interface{ Encode() ([]byte, error) }) {
		data, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		idx++
		st.Apply(&raft.Log{Index: idx, Term: 1, Type: raft.LogCommand, Data: data})
	}
	lm, err := kv.LeaseGrantMutation(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	apply(lm)
	for i := 0; i < n; i++ {
		m, err := kv.PutMutation(fmt.Sprintf("key/%05d", i), []byte(fmt.Sprintf("value %d", i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		apply(m)
	}
	dm, err := kv.DeleteMutation("key/00000", nil)
	if err != nil {
		t.Fatal(err)
	}
	apply(dm)
	snap, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &bufSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	return sink.Bytes(), idx
}

type bufSink struct{ bytes.Buffer }

func (b *bufSink) ID() string    { return "test" }
func (b *bufSink) Cancel() error { return nil }
func (b *bufSink) Close() error  { return nil }

// archiveOf writes an archive of a real state of n keys.
func archiveOf(t testing.TB, n int) ([]byte, Meta) {
	t.Helper()
	state, idx := kvState(t, n)
	meta := Meta{Index: idx, Term: 3, ClusterID: "cluster-a", NodeID: "n1",
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), StateSize: int64(len(state))}
	var buf bytes.Buffer
	if _, err := Write(&buf, meta, bytes.NewReader(state)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), meta
}

func TestRoundTrip(t *testing.T) {
	data, meta := archiveOf(t, 100)
	info, err := Verify(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !info.ChecksumOK || info.Keys != 99 || info.Tombstones != 1 || info.Leases != 1 {
		t.Fatalf("info = %+v, want checksum ok, 99 keys, 1 tombstone, 1 lease", info)
	}
	if info.Index != meta.Index || info.Term != 3 || info.ClusterID != "cluster-a" || info.Size != int64(len(data)) {
		t.Fatalf("info = %+v, meta %+v, size %d", info, meta, len(data))
	}
	// The state section is the stream written, byte for byte, and a store
	// restores from it.
	rd, err := Open(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	st := kv.NewStore(kv.DefaultLimits())
	if err := st.Restore(io.NopCloser(rd.State())); err != nil {
		t.Fatalf("restore the state: %v", err)
	}
	if err := rd.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := len(st.View().List("")); got != 99 {
		t.Fatalf("restored %d keys, want 99", got)
	}
}

func TestWriteRefusesWrongStateSize(t *testing.T) {
	state, idx := kvState(t, 3)
	for name, size := range map[string]int64{"short": int64(len(state)) + 1, "long": int64(len(state)) - 1} {
		t.Run(name, func(t *testing.T) {
			meta := Meta{Index: idx, Term: 1, StateSize: size}
			if _, err := Write(io.Discard, meta, bytes.NewReader(state)); err == nil {
				t.Fatal("Write accepted a state whose length is not StateSize")
			}
		})
	}
}

// TestEveryTruncationAndBitFlip: every prefix of an archive and every
// single flipped bit is refused as ErrCorrupt or ErrUnsupported, never
// accepted, never a panic.
func TestEveryTruncationAndBitFlip(t *testing.T) {
	data, _ := archiveOf(t, 20)
	for n := 0; n < len(data); n++ {
		if _, err := Verify(bytes.NewReader(data[:n])); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d of %d bytes: err = %v, want ErrCorrupt", n, len(data), err)
		}
	}
	for i := 0; i < len(data); i++ {
		for bit := 0; bit < 8; bit++ {
			bad := bytes.Clone(data)
			bad[i] ^= 1 << bit
			_, err := Verify(bytes.NewReader(bad))
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("bit %d of byte %d flipped: err = %v, want ErrCorrupt or ErrUnsupported", bit, i, err)
			}
		}
	}
	if _, err := Verify(bytes.NewReader(append(bytes.Clone(data), 0))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a byte appended: err = %v, want ErrCorrupt", err)
	}
}

func TestCorruptionClasses(t *testing.T) {
	data, meta := archiveOf(t, 5)
	state, _ := kvState(t, 5)
	rewrite := func(m Meta, st []byte) []byte {
		var buf bytes.Buffer
		if _, err := Write(&buf, m, bytes.NewReader(st)); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	badState := bytes.Clone(state)
	badState[len(badState)/2] ^= 0xff // the state's own CRC fails, the archive's SHA holds
	version2 := bytes.Clone(data)
	version2[len(Magic)+1] = 2
	cases := map[string]struct {
		data []byte
		want error
		msg  string
	}{
		"empty":           {nil, ErrCorrupt, "truncated in the header"},
		"not an archive":  {[]byte("hello, this is not a snapshot at all"), ErrCorrupt, "not a snapshot archive"},
		"newer version":   {version2, ErrUnsupported, "format version 2"},
		"damaged state":   {rewrite(meta, badState), ErrCorrupt, "the state"},
		"zero index":      {rewrite(Meta{Term: 1, StateSize: meta.StateSize}, state), ErrCorrupt, "index 0"},
		"index too low":   {rewrite(Meta{Index: 1, Term: 1, StateSize: meta.StateSize}, state), ErrCorrupt, "above the archive's index"},
		"unknown state":   {rewrite(Meta{Index: meta.Index, Term: 1, StateSize: meta.StateSize, StateFormat: "sql"}, state), ErrUnsupported, `state format "sql"`},
		"truncated state": {data[:headerLen+100], ErrCorrupt, "truncated"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Verify(bytes.NewReader(tc.data))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tc.want, tc.msg)
			}
		})
	}
}

func TestCheckCluster(t *testing.T) {
	cases := map[string]struct {
		from, into string
		force, ok  bool
	}{
		"same cluster":           {"a", "a", false, true},
		"other cluster":          {"a", "b", false, false},
		"other cluster, forced":  {"a", "b", true, true},
		"snapshot without an ID": {"", "b", false, true},
		"target without an ID":   {"a", "", false, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := CheckCluster(tc.from, tc.into, tc.force)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrOtherCluster)) {
				t.Fatalf("CheckCluster(%q, %q, %v) = %v, want ok=%v", tc.from, tc.into, tc.force, err, tc.ok)
			}
		})
	}
}

func TestPrune(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	names := func(hours ...int) []string {
		var out []string
		for _, h := range hours {
			out = append(out, FileName(t0.Add(time.Duration(h)*time.Hour)))
		}
		return out
	}
	cases := map[string]struct {
		names  []string
		retain int
		want   []string
	}{
		"under the count":       {names(1, 2), 3, nil},
		"at the count":          {names(1, 2, 3), 3, nil},
		"oldest go, any order":  {append(names(30, 2), names(10, 1)...), 2, names(1, 2)},
		"others are kept":       {append(names(1, 2), "notes.txt", "snapshot-bad.snap", ".snapshot-x.tmp-1"), 1, names(1)},
		"retain 0 keeps one":    {names(1, 2), 0, names(1)},
		"across a day boundary": {names(23, 24, 25), 2, names(23)},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := Prune(tc.names, tc.retain)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("Prune = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.snap")
	if err := WriteFileAtomic(path, func(f *os.File) error { _, err := f.WriteString("full"); return err }); err != nil {
		t.Fatal(err)
	}
	err := WriteFileAtomic(path, func(f *os.File) error {
		_, _ = f.WriteString("partial")
		return errors.New("the source failed")
	})
	if err == nil {
		t.Fatal("a failed write reported success")
	}
	got, _ := os.ReadFile(path)
	entries, _ := os.ReadDir(dir)
	if string(got) != "full" || len(entries) != 1 {
		t.Fatalf("after a failed write: file %q, %d entries; want the old file alone", got, len(entries))
	}
	if err := WriteFileAtomic(filepath.Join(dir, "new.snap"), func(*os.File) error { return errors.New("boom") }); err == nil {
		t.Fatal("want an error")
	}
	if _, err := os.Stat(filepath.Join(dir, "new.snap")); !os.IsNotExist(err) {
		t.Fatalf("a failed first write left the file: %v", err)
	}
}

// FuzzVerify: any input is refused or accepted cleanly, never a panic or a
// hang, and whatever verifies restores into a store.
func FuzzVerify(f *testing.F) {
	data, _ := archiveOf(f, 3)
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, in []byte) {
		info, err := Verify(bytes.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		rd, err := Open(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("verified, then Open failed: %v", err)
		}
		st := kv.NewStore(kv.DefaultLimits())
		if err := st.Restore(io.NopCloser(rd.State())); err != nil {
			t.Fatalf("verified (%+v), then the store refused it: %v", info, err)
		}
	})
}
