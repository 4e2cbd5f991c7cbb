package kv

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	iradix "github.com/hashicorp/go-immutable-radix"
	"github.com/hashicorp/raft"
)

// Snapshot stream format, version 2. All integers are unsigned varints
// unless noted.
//
//	header:    magic "AGKVSNAP" (8 bytes), version (1 byte)
//	lease:     'L', ID, TTL in nanoseconds
//	entry:     'E', key length, key, value length, value, create index, modify index,
//	           lease ID (0: none)
//	tombstone: 'D', key length, key, delete index
//	trailer:   'T', entry count, applied index, tombstone count, horizon,
//	           lease count, CRC-32C (4 bytes, big endian)
//
// Leases come first in increasing ID order (so an entry's lease is known
// when the entry is read), then entries in strictly increasing key order,
// then tombstones, likewise.
// The checksum covers every byte before it, so a flipped bit anywhere is
// caught, and the trailer makes a truncated stream distinguishable from a
// short store. Version 1 (still read) had no tombstones and a trailer
// without their count and the horizon; a state restored from it has no
// tombstones and its horizon at its applied index, so watchers holding an
// older index read again instead of missing a delete the snapshot forgot.
const (
	snapshotMagic   = "AGKVSNAP"
	snapshotVersion = 2
	tagEntry        = 'E'
	tagTombstone    = 'D'
	tagLease        = 'L'
	tagTrailer      = 'T'
	// snapshotBufSize is the only buffer Persist and Restore add.
	snapshotBufSize = 64 << 10
	// restoreBatch is how many records Restore inserts per transaction
	// before committing and starting the next one from the result, so no
	// transaction's bookkeeping spans a whole snapshot. Records arrive in
	// key order, so the nodes a transaction still writes to are the ones
	// on the newest key's path; measured neutral for time and peak heap
	// against one transaction (BenchmarkSnapshotRestore1M).
	restoreBatch = 64 << 10
	// inlineValueMax: values up to this size are copied into the record
	// buffer so a record is one write; larger ones are written directly.
	inlineValueMax = 4 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot captures the current tree, which is immutable, in O(1); the
// returned FSMSnapshot streams it while Apply goes on.
func (s *Store) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{st: s.cur.Load()}, nil
}

// fsmSnapshot is one captured version of the store.
type fsmSnapshot struct {
	st *state
}

// Persist writes the snapshot to sink through one buffer and closes it, or
// cancels it on error. Safe to run concurrently with Apply: it only reads
// the captured immutable tree.
func (f *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeSnapshot(sink, f.st); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("kv: persist snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("kv: persist snapshot: close sink: %w", err)
	}
	return nil
}

// Release has nothing to free: dropping the snapshot drops its tree.
func (f *fsmSnapshot) Release() {}

// writeSnapshot streams st to w in the snapshot format.
func writeSnapshot(w io.Writer, st *state) error {
	bw := bufio.NewWriterSize(w, snapshotBufSize)
	cw := &crcWriter{w: bw}
	enc := recordEncoder{w: cw}
	enc.write(append([]byte(snapshotMagic), snapshotVersion))
	st.leases.Root().Walk(func(k []byte, v any) bool {
		enc.buf = append(enc.buf[:0], tagLease)
		enc.buf = binary.AppendUvarint(enc.buf, binary.BigEndian.Uint64(k))
		enc.buf = binary.AppendUvarint(enc.buf, uint64(v.(*lease).ttl))
		enc.write(enc.buf)
		return enc.err != nil
	})
	var n uint64
	st.tree.Root().Walk(func(k []byte, v any) bool {
		enc.record(k, v.(*entry))
		enc.uvarint(v.(*entry).lease)
		n++
		return enc.err != nil
	})
	if enc.err != nil {
		return enc.err
	}
	if n != uint64(st.tree.Len()) {
		return fmt.Errorf("walked %d entries but the tree holds %d", n, st.tree.Len())
	}
	st.tombs.Root().Walk(func(k []byte, v any) bool {
		enc.buf = append(enc.buf[:0], tagTombstone)
		enc.buf = binary.AppendUvarint(enc.buf, uint64(len(k)))
		enc.buf = append(enc.buf, k...)
		enc.buf = binary.AppendUvarint(enc.buf, v.(uint64))
		enc.write(enc.buf)
		return enc.err != nil
	})
	enc.buf = append(enc.buf[:0], tagTrailer)
	enc.buf = binary.AppendUvarint(enc.buf, n)
	enc.buf = binary.AppendUvarint(enc.buf, st.applied)
	enc.buf = binary.AppendUvarint(enc.buf, uint64(st.tombs.Len()))
	enc.buf = binary.AppendUvarint(enc.buf, st.horizon)
	enc.buf = binary.AppendUvarint(enc.buf, uint64(st.leases.Len()))
	enc.write(enc.buf)
	if enc.err != nil {
		return enc.err
	}
	if _, err := bw.Write(binary.BigEndian.AppendUint32(nil, cw.sum)); err != nil {
		return err
	}
	return bw.Flush()
}

// crcWriter checksums everything written through it.
type crcWriter struct {
	w   io.Writer
	sum uint32
}

func (c *crcWriter) Write(p []byte) (int, error) {
	c.sum = crc32.Update(c.sum, castagnoli, p)
	return c.w.Write(p)
}

// recordEncoder writes entry records; Hash and Persist share it, so the
// digest covers exactly what a snapshot carries. The first write error
// sticks and turns the rest into no-ops.
type recordEncoder struct {
	w   io.Writer
	buf []byte
	err error
}

func (e *recordEncoder) write(p []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(p)
	}
}

func (e *recordEncoder) uvarint(v uint64) {
	e.write(binary.AppendUvarint(e.buf[:0], v))
}

// record writes one entry record.
func (e *recordEncoder) record(key []byte, ent *entry) {
	b := append(e.buf[:0], tagEntry)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = binary.AppendUvarint(b, uint64(len(ent.value)))
	if len(ent.value) > inlineValueMax {
		e.write(b)
		e.write(ent.value)
		b = b[:0]
	} else {
		b = append(b, ent.value...)
	}
	b = binary.AppendUvarint(b, ent.create)
	b = binary.AppendUvarint(b, ent.modify)
	e.write(b)
	e.buf = b
}

// Restore replaces the store's contents with the snapshot in rc. It
// streams: records go one at a time into a new tree, and nothing but that
// tree and one read buffer is added; the snapshot is never held in memory.
// The new tree is published only once the whole stream checked out, so on
// any error (ErrCorruptSnapshot, ErrUnsupportedSnapshot, a read error) the
// store keeps its old state. The price of that guarantee is that the old
// state stays in memory, and readable, until the swap.
func (s *Store) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := readSnapshot(rc)
	if err != nil {
		return err
	}
	s.mu.Lock()
	old := s.cur.Load()
	s.cur.Store(st)
	close(old.restored) // wakes every blocking read, after the swap
	s.mu.Unlock()
	return nil
}

// readSnapshot parses a snapshot stream into a new state.
func readSnapshot(r io.Reader) (*state, error) {
	return readSnapshotInto(r, newRestoring(false))
}

func newRestoring(scan bool) *restoring {
	return &restoring{txn: iradix.New().Txn(), tombs: iradix.New().Txn(), order: iradix.New().Txn(),
		leases: iradix.New().Txn(), leaseKeys: iradix.New().Txn(), scan: scan}
}

// readSnapshotInto parses a snapshot stream into rs.
func readSnapshotInto(r io.Reader, rs *restoring) (*state, error) {
	sr := &snapReader{r: bufio.NewReaderSize(r, snapshotBufSize)}
	if err := sr.header(); err != nil {
		return nil, err
	}
	for {
		tag, err := sr.ReadByte()
		if err != nil {
			return nil, sr.readErr(err, "before the trailer")
		}
		switch {
		case tag == tagLease && sr.version >= 2 && rs.count == 0 && rs.tombCount == 0:
			err = rs.lease(sr)
		case tag == tagEntry && rs.tombCount == 0:
			err = rs.entry(sr)
		case tag == tagTombstone && sr.version >= 2:
			err = rs.tombstone(sr)
		case tag == tagTrailer:
			return sr.trailer(rs)
		default:
			err = sr.corrupt("unexpected record tag 0x%02x after %d entries and %d tombstones", tag, rs.count, rs.tombCount)
		}
		if err != nil {
			return nil, err
		}
	}
}

// restoring is the state readSnapshot builds, with what it has counted.
type restoring struct {
	txn, tombs, order  *iradix.Txn
	leases, leaseKeys  *iradix.Txn
	leaseCount, prevID uint64
	prev, prevTomb     []byte
	count, maxModify   uint64
	tombCount, maxTomb uint64
	// scan: only check the stream (see ScanSnapshot); entries are not
	// kept, only liveHashes, to find a tombstone that is also a live key.
	scan       bool
	liveHashes []uint64
	sorted     bool
}

// entry reads one entry record into the new tree.
func (rs *restoring) entry(sr *snapReader) error {
	key, ent, err := sr.record(rs.prev)
	if err != nil {
		return err
	}
	if sr.version >= 2 {
		if ent.lease, err = sr.uvarint("lease ID"); err != nil {
			return err
		}
		if _, ok := rs.leases.Get(leaseKey(ent.lease)); ent.lease != 0 && !ok {
			return sr.corrupt("%s is attached to lease %d, which the snapshot does not hold", quoteKey(key), ent.lease)
		}
		if ent.lease != 0 {
			rs.leaseKeys.Insert(append(leaseKey(ent.lease), key...), nil)
		}
	}
	if rs.scan {
		rs.liveHashes = append(rs.liveHashes, keyHash(key))
	} else {
		rs.txn.Insert(key, ent)
	}
	rs.prev, rs.count, rs.maxModify = key, rs.count+1, max(rs.maxModify, ent.modify)
	if rs.count%restoreBatch == 0 {
		rs.txn = rs.txn.CommitOnly().Txn()
	}
	return nil
}

// lease reads one lease record: IDs increasing, a TTL within bounds.
func (rs *restoring) lease(sr *snapReader) error {
	id, err := sr.uvarint("lease ID")
	if err != nil {
		return err
	}
	ttl, err := sr.uvarint("lease TTL")
	if err != nil {
		return err
	}
	if id <= rs.prevID {
		return sr.corrupt("lease %d is not after lease %d", id, rs.prevID)
	}
	if ttl > uint64(MaxLeaseTTL) || ValidateLeaseTTL(time.Duration(ttl)) != nil {
		return sr.corrupt("lease %d has TTL %d ns, outside %s..%s", id, ttl, MinLeaseTTL, MaxLeaseTTL)
	}
	rs.leases.Insert(leaseKey(id), &lease{ttl: time.Duration(ttl)})
	rs.prevID, rs.leaseCount = id, rs.leaseCount+1
	return nil
}

// tombstone reads one tombstone record: a valid key, after the previous
// tombstone's, not also a live key, with a delete index above 0.
func (rs *restoring) tombstone(sr *snapReader) error {
	klen, err := sr.length("key length", MaxKeyBytesCeiling)
	if err != nil {
		return err
	}
	key := make([]byte, klen)
	if err := sr.readFull(key); err != nil {
		return sr.readErr(err, "in a tombstone key")
	}
	if err := validateKey(key, MaxKeyBytesCeiling); err != nil {
		return sr.corrupt("tombstone: %v", err)
	}
	if rs.prevTomb != nil && bytes.Compare(rs.prevTomb, key) >= 0 {
		return sr.corrupt("tombstone %s is not after %s", quoteKey(key), quoteKey(rs.prevTomb))
	}
	if rs.isLive(key) {
		return sr.corrupt("%s is both a live key and a tombstone", quoteKey(key))
	}
	idx, err := sr.uvarint("delete index")
	if err != nil {
		return err
	}
	if idx == 0 {
		return sr.corrupt("tombstone %s has delete index 0", quoteKey(key))
	}
	rs.tombs.Insert(key, idx)
	rs.order.Insert(orderKey(idx, key), nil)
	rs.prevTomb, rs.tombCount, rs.maxTomb = key, rs.tombCount+1, max(rs.maxTomb, idx)
	return nil
}

// snapReader reads a snapshot stream, checksumming what it consumes and
// counting bytes so errors can say where the stream went wrong.
type snapReader struct {
	r   *bufio.Reader
	sum uint32
	off int64
	// version is the format version the header named.
	version byte
	// ioErr is the last error from r, so a varint decode failure can be
	// told apart from an I/O one.
	ioErr error
}

// ReadByte makes snapReader an io.ByteReader for binary.ReadUvarint.
func (sr *snapReader) ReadByte() (byte, error) {
	b, err := sr.r.ReadByte()
	if err != nil {
		sr.ioErr = err
		return 0, err
	}
	sr.sum = crc32.Update(sr.sum, castagnoli, []byte{b})
	sr.off++
	return b, nil
}

func (sr *snapReader) readFull(p []byte) error {
	n, err := io.ReadFull(sr.r, p)
	sr.sum = crc32.Update(sr.sum, castagnoli, p[:n])
	sr.off += int64(n)
	return err
}

// corrupt builds an ErrCorruptSnapshot error located at the current offset.
func (sr *snapReader) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrCorruptSnapshot, sr.off, fmt.Sprintf(format, args...))
}

// readErr reports a read failure: an early end of stream is a truncated
// snapshot; anything else is the underlying I/O error.
func (sr *snapReader) readErr(err error, where string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return sr.corrupt("truncated %s", where)
	}
	return fmt.Errorf("kv: reading snapshot at byte %d (%s): %w", sr.off, where, err)
}

func (sr *snapReader) header() error {
	var h [len(snapshotMagic) + 1]byte
	if err := sr.readFull(h[:]); err != nil {
		return sr.readErr(err, "in the header")
	}
	if string(h[:len(snapshotMagic)]) != snapshotMagic {
		return fmt.Errorf("%w: not a key/value snapshot (magic %q, want %q)",
			ErrCorruptSnapshot, h[:len(snapshotMagic)], snapshotMagic)
	}
	v := h[len(snapshotMagic)]
	if v < 1 || v > snapshotVersion {
		return fmt.Errorf("%w: version %d (this build reads versions 1 to %d)", ErrUnsupportedSnapshot, v, snapshotVersion)
	}
	sr.version = v
	return nil
}

// length reads a length field and checks it against limit before anything
// is allocated for it.
func (sr *snapReader) length(what string, limit int) (int, error) {
	n, err := binary.ReadUvarint(sr)
	if err != nil {
		return 0, sr.uvarintErr(err, what)
	}
	if n > uint64(limit) {
		return 0, sr.corrupt("%s %d exceeds the maximum %d", what, n, limit)
	}
	return int(n), nil
}

func (sr *snapReader) uvarint(what string) (uint64, error) {
	n, err := binary.ReadUvarint(sr)
	if err != nil {
		return 0, sr.uvarintErr(err, what)
	}
	return n, nil
}

// uvarintErr classifies a binary.ReadUvarint failure: the end of the
// stream or a read error from below, else a varint that overflows.
func (sr *snapReader) uvarintErr(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || err == sr.ioErr {
		return sr.readErr(err, "in the "+what)
	}
	return sr.corrupt("%s: %v", what, err)
}

// record reads the rest of an entry record (after its tag) and checks it:
// a valid key greater than prev, and 0 < create <= modify.
func (sr *snapReader) record(prev []byte) ([]byte, *entry, error) {
	klen, err := sr.length("key length", MaxKeyBytesCeiling)
	if err != nil {
		return nil, nil, err
	}
	key := make([]byte, klen) // the tree keeps it: one allocation per key
	if err := sr.readFull(key); err != nil {
		return nil, nil, sr.readErr(err, "in a key")
	}
	if err := validateKey(key, MaxKeyBytesCeiling); err != nil {
		return nil, nil, sr.corrupt("%v", err)
	}
	if prev != nil && bytes.Compare(prev, key) >= 0 {
		return nil, nil, sr.corrupt("%s is not after %s: entries out of order", quoteKey(key), quoteKey(prev))
	}
	vlen, err := sr.length("value length", MaxValueBytesCeiling)
	if err != nil {
		return nil, nil, err
	}
	ent := &entry{}
	if vlen > 0 {
		ent.value = make([]byte, vlen)
		if err := sr.readFull(ent.value); err != nil {
			return nil, nil, sr.readErr(err, "in a value")
		}
	}
	if ent.create, err = sr.uvarint("create index"); err != nil {
		return nil, nil, err
	}
	if ent.modify, err = sr.uvarint("modify index"); err != nil {
		return nil, nil, err
	}
	if ent.create == 0 || ent.modify < ent.create {
		return nil, nil, sr.corrupt("%s has create index %d and modify index %d", quoteKey(key), ent.create, ent.modify)
	}
	return key, ent, nil
}

// trailer reads and checks the trailer against what was read, and that
// nothing follows it; it returns the restored state.
func (sr *snapReader) trailer(rs *restoring) (*state, error) {
	want, err := sr.uvarint("entry count")
	if err != nil {
		return nil, err
	}
	applied, err := sr.uvarint("applied index")
	if err != nil {
		return nil, err
	}
	wantTombs, horizon, wantLeases := uint64(0), applied, uint64(0) // version 1: see the format comment
	if sr.version >= 2 {
		if wantTombs, err = sr.uvarint("tombstone count"); err != nil {
			return nil, err
		}
		if horizon, err = sr.uvarint("horizon"); err != nil {
			return nil, err
		}
		if wantLeases, err = sr.uvarint("lease count"); err != nil {
			return nil, err
		}
	}
	sum := sr.sum
	var crc [4]byte
	if err := sr.readFull(crc[:]); err != nil {
		return nil, sr.readErr(err, "in the checksum")
	}
	if got := binary.BigEndian.Uint32(crc[:]); got != sum {
		return nil, sr.corrupt("checksum mismatch: stream says %08x, content is %08x", got, sum)
	}
	if err := sr.checkCounts(rs, want, wantTombs, applied, horizon); err != nil {
		return nil, err
	}
	if wantLeases != rs.leaseCount || rs.prevID > applied {
		return nil, sr.corrupt("trailer says %d leases, the stream has %d (the last ID %d, applied %d)", wantLeases, rs.leaseCount, rs.prevID, applied)
	}
	if _, err := sr.r.ReadByte(); err == nil {
		return nil, sr.corrupt("data after the trailer")
	} else if !errors.Is(err, io.EOF) {
		return nil, sr.readErr(err, "after the trailer")
	}
	return &state{tree: rs.txn.CommitOnly(), tombs: rs.tombs.CommitOnly(), order: rs.order.CommitOnly(),
		leases: rs.leases.CommitOnly(), leaseKeys: rs.leaseKeys.CommitOnly(),
		horizon: horizon, applied: applied, restored: make(chan struct{})}, nil
}

// checkCounts checks the trailer's counts and indexes against the records.
func (sr *snapReader) checkCounts(rs *restoring, want, wantTombs, applied, horizon uint64) error {
	switch {
	case want != rs.count:
		return sr.corrupt("trailer says %d entries, the stream has %d", want, rs.count)
	case wantTombs != rs.tombCount:
		return sr.corrupt("trailer says %d tombstones, the stream has %d", wantTombs, rs.tombCount)
	case rs.maxModify > applied:
		return sr.corrupt("an entry has modify index %d, above the applied index %d", rs.maxModify, applied)
	case rs.maxTomb > applied:
		return sr.corrupt("a tombstone has delete index %d, above the applied index %d", rs.maxTomb, applied)
	case horizon > applied:
		return sr.corrupt("horizon %d is above the applied index %d", horizon, applied)
	}
	return nil
}
