// Package snapshot reads and writes the agent's snapshot archive: the
// replicated state at one Raft index plus what is needed to restore it
// into any cluster, behind a magic header, a version and a SHA-256 over
// the whole file. docs/snapshots.md describes the layout.
//
// Everything streams: the state passes through once, in bounded buffers,
// whether it is written, verified or restored.
package snapshot

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"
)

// Magic starts every archive. The high first byte and the CR LF catch a
// file mangled by a text-mode transfer, as PNG's signature does.
const Magic = "\x89AGSNAP\r\n"

// Version is the archive format this build writes and reads.
const Version = 1

// maxMetaBytes bounds the metadata block read before anything is checked.
const maxMetaBytes = 64 << 10

// bufSize is the one buffer the reader and writer add.
const bufSize = 64 << 10

// Sentinel errors; wrapped with detail.
var (
	// ErrCorrupt: the file is truncated, altered or not an archive.
	ErrCorrupt = errors.New("corrupt snapshot")
	// ErrUnsupported: an archive of a format version this build cannot read.
	ErrUnsupported = errors.New("unsupported snapshot")
)

// Meta is the archive's metadata block.
type Meta struct {
	// Format is the archive format version (Version).
	Format int `json:"format"`
	// Index and Term are the Raft index and term the state was taken at.
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	// ClusterID is the ID of the cluster the state came from ("" if none).
	ClusterID string `json:"cluster_id"`
	// NodeID is the server that took it.
	NodeID string `json:"node_id"`
	// CreatedAt is when it was taken (UTC).
	CreatedAt time.Time `json:"created_at"`
	// StateFormat names the encoding of the state section.
	StateFormat string `json:"state_format"`
	// StateSize is the length of the state section in bytes.
	StateSize int64 `json:"state_size"`
	// AgentVersion is the version of the agent that wrote the archive.
	AgentVersion string `json:"agent_version,omitempty"`
}

// StateFormatKV is the only state format: the key/value store's snapshot
// stream (agent/kv), which carries its own CRC-32C too.
const StateFormatKV = "kv"

// headerLen is the magic plus the version (2 bytes) and the metadata
// length (4 bytes).
const headerLen = len(Magic) + 2 + 4

// Write writes an archive of meta and exactly meta.StateSize bytes of state
// to w, and returns the SHA-256 it appended. A state shorter or longer
// than meta.StateSize is an error (the archive is then incomplete).
func Write(w io.Writer, meta Meta, state io.Reader) ([]byte, error) {
	meta.Format = Version
	if meta.StateFormat == "" {
		meta.StateFormat = StateFormatKV
	}
	mb, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("snapshot: encode metadata: %w", err)
	}
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), bufSize)
	hdr := make([]byte, 0, headerLen+len(mb))
	hdr = append(hdr, Magic...)
	hdr = binary.BigEndian.AppendUint16(hdr, Version)
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(len(mb)))
	hdr = append(hdr, mb...)
	if _, err := bw.Write(hdr); err != nil {
		return nil, fmt.Errorf("snapshot: write header: %w", err)
	}
	n, err := io.Copy(bw, io.LimitReader(state, meta.StateSize))
	if err != nil {
		return nil, fmt.Errorf("snapshot: copy state after %d bytes: %w", n, err)
	}
	if n != meta.StateSize {
		return nil, fmt.Errorf("snapshot: state ended after %d of %d bytes", n, meta.StateSize)
	}
	var extra [1]byte
	if m, _ := io.ReadFull(state, extra[:]); m != 0 {
		return nil, fmt.Errorf("snapshot: state is longer than its %d bytes", meta.StateSize)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("snapshot: write state: %w", err)
	}
	sum := h.Sum(nil)
	if _, err := w.Write(sum); err != nil {
		return nil, fmt.Errorf("snapshot: write checksum: %w", err)
	}
	return sum, nil
}

// Reader reads an archive: Open reads the header, State streams the state
// section, and Close checks the checksum and that nothing follows it.
type Reader struct {
	r     *bufio.Reader
	h     hash.Hash
	meta  Meta
	state *io.LimitedReader
	off   int64
}

// Open reads and checks the header and metadata of the archive in r.
func Open(r io.Reader) (*Reader, error) {
	rd := &Reader{r: bufio.NewReaderSize(r, bufSize), h: sha256.New()}
	var hdr [headerLen]byte
	if err := rd.read(hdr[:], "the header"); err != nil {
		return nil, err
	}
	if string(hdr[:len(Magic)]) != Magic {
		return nil, fmt.Errorf("%w: not a snapshot archive (it starts with %q)", ErrCorrupt, hdr[:len(Magic)])
	}
	if v := binary.BigEndian.Uint16(hdr[len(Magic):]); v != Version {
		return nil, fmt.Errorf("%w: format version %d (this build reads version %d)", ErrUnsupported, v, Version)
	}
	mlen := binary.BigEndian.Uint32(hdr[len(Magic)+2:])
	if mlen == 0 || mlen > maxMetaBytes {
		return nil, fmt.Errorf("%w: metadata length %d is outside 1..%d", ErrCorrupt, mlen, maxMetaBytes)
	}
	mb := make([]byte, mlen)
	if err := rd.read(mb, "the metadata"); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(mb, &rd.meta); err != nil {
		return nil, fmt.Errorf("%w: metadata: %v", ErrCorrupt, err)
	}
	if err := checkMeta(rd.meta); err != nil {
		return nil, err
	}
	rd.state = &io.LimitedReader{R: hashReader{rd}, N: rd.meta.StateSize}
	return rd, nil
}

// checkMeta checks the fields a restore relies on.
func checkMeta(m Meta) error {
	switch {
	case m.Format != Version:
		return fmt.Errorf("%w: metadata says format %d, the header %d", ErrCorrupt, m.Format, Version)
	case m.StateFormat != StateFormatKV:
		return fmt.Errorf("%w: state format %q (this build reads %q)", ErrUnsupported, m.StateFormat, StateFormatKV)
	case m.StateSize <= 0:
		return fmt.Errorf("%w: state size %d", ErrCorrupt, m.StateSize)
	case m.Index == 0 || m.Term == 0:
		return fmt.Errorf("%w: index %d, term %d: both must be above 0", ErrCorrupt, m.Index, m.Term)
	}
	return nil
}

// Meta returns the archive's metadata, from its header: not yet verified
// until Close returned nil.
func (rd *Reader) Meta() Meta { return rd.meta }

// State streams the state section. A short section reads as
// io.ErrUnexpectedEOF wrapped in ErrCorrupt.
func (rd *Reader) State() io.Reader { return stateReader{rd} }

// Close reads what is left of the state, then the checksum, and checks it
// and that the archive ends there.
func (rd *Reader) Close() error {
	if _, err := io.Copy(io.Discard, rd.State()); err != nil {
		return err
	}
	sum := rd.h.Sum(nil)
	var got [sha256.Size]byte
	if _, err := io.ReadFull(rd.r, got[:]); err != nil {
		return rd.readErr(err, "the checksum")
	}
	if string(got[:]) != string(sum) {
		return fmt.Errorf("%w: SHA-256 mismatch: the file says %x, its content is %x", ErrCorrupt, got, sum)
	}
	if _, err := rd.r.ReadByte(); err == nil {
		return fmt.Errorf("%w: data after the checksum", ErrCorrupt)
	} else if !errors.Is(err, io.EOF) {
		return fmt.Errorf("snapshot: read after the checksum: %w", err)
	}
	return nil
}

func (rd *Reader) read(p []byte, what string) error {
	n, err := io.ReadFull(rd.r, p)
	rd.h.Write(p[:n])
	rd.off += int64(n)
	if err != nil {
		return rd.readErr(err, what)
	}
	return nil
}

func (rd *Reader) readErr(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated in %s (at byte %d)", ErrCorrupt, what, rd.off)
	}
	return fmt.Errorf("snapshot: read %s at byte %d: %w", what, rd.off, err)
}

// hashReader feeds what the state section reads to the checksum.
type hashReader struct{ rd *Reader }

func (h hashReader) Read(p []byte) (int, error) {
	n, err := h.rd.r.Read(p)
	h.rd.h.Write(p[:n])
	h.rd.off += int64(n)
	return n, err
}

// stateReader turns an early end of the state section into ErrCorrupt.
type stateReader struct{ rd *Reader }

func (s stateReader) Read(p []byte) (int, error) {
	if s.rd.state.N <= 0 {
		return 0, io.EOF
	}
	n, err := s.rd.state.Read(p)
	if errors.Is(err, io.EOF) && s.rd.state.N > 0 {
		return n, fmt.Errorf("%w: truncated in the state (%d bytes missing)", ErrCorrupt, s.rd.state.N)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("snapshot: read the state at byte %d: %w", s.rd.off, err)
	}
	return n, nil
}
