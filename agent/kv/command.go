package kv

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/clusteragent/agent/raftnode/command"
)

// Mutation types of the kv commands. A change of meaning gets a new type
// (say "kv.put.v2"), never a new reading of an old one, so a log written by
// one version means the same to every later version.
const (
	// TypePutBin sets a key, optionally compare-and-set; binary payload
	// (see encodeCommand). PutMutation builds it.
	TypePutBin = "kv.put.bin"
	// TypeDeleteBin removes a key, optionally compare-and-delete; binary
	// payload. DeleteMutation builds it.
	TypeDeleteBin = "kv.delete.bin"
	// TypePut is TypePutBin with a JSON payload, as earlier versions wrote
	// it; such entries still apply.
	TypePut = "kv.put"
	// TypeDelete is TypeDeleteBin with a JSON payload, as earlier versions
	// wrote it; such entries still apply.
	TypeDelete = "kv.delete"
)

// The binary payload of TypePutBin and TypeDeleteBin: a flags byte
// (flagCAS: a uvarint cas follows; flagLease, puts only: then a uvarint
// lease ID), the key's length as a uvarint and its bytes, then (puts only)
// the value, to the end. Every replica decodes every
// command on its apply path, so it must be cheap: no reflection, one copy
// of the value.
const (
	flagCAS byte = 1 << iota
	flagLease
)

// putPayload is the JSON payload of TypePut. Value is base64 in JSON.
type putPayload struct {
	Key   string  `json:"key"`
	Value []byte  `json:"value,omitempty"`
	CAS   *uint64 `json:"cas,omitempty"`
}

// deletePayload is the JSON payload of TypeDelete.
type deletePayload struct {
	Key string  `json:"key"`
	CAS *uint64 `json:"cas,omitempty"`
}

// Result is what Apply returns for a kv command that decoded and passed
// validation; raft hands it back as the apply future's response. Commands
// that were refused (bad payload, invalid key, value too large) return an
// error value instead and change nothing.
type Result struct {
	// OK is false when the command's compare (cas) failed.
	OK bool `json:"ok"`
	// Index is the log index of this command: on success the key's new
	// modify index (or the delete's index), on a failed compare just the
	// index the command was applied at.
	Index uint64 `json:"index"`
}

// PutMutation builds the command that sets key to value. With cas nil the
// put is unconditional; with *cas == 0 it succeeds only if the key is
// absent; otherwise only if the key's modify index equals *cas.
//
// It checks the key rules and the absolute ceilings (MaxKeyBytesCeiling,
// MaxValueBytesCeiling), not a deployment's Limits, which it does not
// know: check those first with ValidateKey and ValidateValue, so a caller
// hears about an oversized value before anything is committed. Apply
// enforces the store's Limits again either way.
func PutMutation(key string, value []byte, cas *uint64) (command.Mutation, error) {
	if err := ValidateKey(key, ceilingLimits); err != nil {
		return command.Mutation{}, err
	}
	if err := ValidateValue(value, ceilingLimits); err != nil {
		return command.Mutation{}, err
	}
	return command.Mutation{Type: TypePutBin, Payload: encodeCommand(key, value, cas, 0)}, nil
}

// PutLeaseMutation is PutMutation attaching the key to lease (an ID from
// a grant, not 0): the key is deleted when the lease is revoked or
// expires, unless a later put detaches it. Apply refuses it with
// ErrLeaseNotFound when the lease does not exist then.
func PutLeaseMutation(key string, value []byte, cas *uint64, lease uint64) (command.Mutation, error) {
	m, err := PutMutation(key, value, cas)
	if err != nil {
		return m, err
	}
	if lease == 0 {
		return command.Mutation{}, fmt.Errorf("%w: lease ID 0", ErrInvalidCommand)
	}
	m.Payload = encodeCommand(key, value, cas, lease)
	return m, nil
}

// DeleteMutation builds the command that removes key. With cas nil it is
// unconditional (deleting a missing key succeeds); with *cas == 0 it
// succeeds only if the key is absent (a no-op); otherwise only if the
// key's modify index equals *cas. Like PutMutation it checks the key rules
// against the ceilings only.
func DeleteMutation(key string, cas *uint64) (command.Mutation, error) {
	if err := ValidateKey(key, ceilingLimits); err != nil {
		return command.Mutation{}, err
	}
	return command.Mutation{Type: TypeDeleteBin, Payload: encodeCommand(key, nil, cas, 0)}, nil
}

// Command is a decoded kv command, as DecodeCommand returns it.
type Command struct {
	// Delete is true for a delete, false for a put.
	Delete bool
	// Key is the key the command changes.
	Key string
	// Value is a put's new value (nil for a delete).
	Value []byte
	// CAS, when set, makes the command conditional on the key's modify
	// index (0: the key is absent).
	CAS *uint64
	// Lease, when not 0, attaches a put's key to that lease.
	Lease uint64
}

// DecodeCommand decodes a kv mutation of any of its types, checking only
// the ceilings (the store checks its own Limits when it applies it).
func DecodeCommand(m command.Mutation) (Command, error) {
	switch m.Type {
	case TypePutBin, TypeDeleteBin:
		c, err := decodeCommand(m.Payload, m.Type == TypeDeleteBin, ceilingLimits)
		return c, err
	case TypePut:
		p, err := decodePut(m.Payload, ceilingLimits)
		return Command{Key: p.Key, Value: p.Value, CAS: p.CAS}, err
	case TypeDelete:
		p, err := decodeDelete(m.Payload, ceilingLimits)
		return Command{Delete: true, Key: p.Key, CAS: p.CAS}, err
	}
	return Command{}, fmt.Errorf("%w: %q is not a kv command", ErrInvalidCommand, m.Type)
}

// encodeCommand builds the binary payload; the value is copied, so the
// caller's slice stays its own.
func encodeCommand(key string, value []byte, cas *uint64, lease uint64) []byte {
	b := make([]byte, 1, 1+3*binary.MaxVarintLen64+len(key)+len(value))
	if cas != nil {
		b[0] |= flagCAS
		b = binary.AppendUvarint(b, *cas)
	}
	if lease != 0 {
		b[0] |= flagLease
		b = binary.AppendUvarint(b, lease)
	}
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	return append(b, value...)
}

// decodeCommand parses and validates a binary payload. The value is
// copied out of the payload, which shares memory with the log entry.
func decodeCommand(payload []byte, isDelete bool, l Limits) (Command, error) {
	c := Command{Delete: isDelete}
	if len(payload) == 0 {
		return c, fmt.Errorf("%w: payload is missing", ErrInvalidCommand)
	}
	flags, rest := payload[0], payload[1:]
	if flags&^(flagCAS|flagLease) != 0 || (isDelete && flags&flagLease != 0) {
		return c, fmt.Errorf("%w: unknown flags %#x", ErrInvalidCommand, flags)
	}
	if flags&flagCAS != 0 {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return c, fmt.Errorf("%w: bad cas", ErrInvalidCommand)
		}
		c.CAS, rest = &v, rest[n:]
	}
	if flags&flagLease != 0 {
		v, n := binary.Uvarint(rest)
		if n <= 0 || v == 0 {
			return c, fmt.Errorf("%w: bad lease ID", ErrInvalidCommand)
		}
		c.Lease, rest = v, rest[n:]
	}
	klen, n := binary.Uvarint(rest)
	if n <= 0 || klen > uint64(len(rest)-n) {
		return c, fmt.Errorf("%w: bad key length", ErrInvalidCommand)
	}
	rest = rest[n:]
	c.Key, rest = string(rest[:klen]), rest[klen:]
	if err := ValidateKey(c.Key, l); err != nil {
		return c, err
	}
	if isDelete {
		if len(rest) != 0 {
			return c, fmt.Errorf("%w: trailing data after the key of a delete", ErrInvalidCommand)
		}
		return c, nil
	}
	if err := ValidateValue(rest, l); err != nil {
		return c, err
	}
	if len(rest) > 0 {
		c.Value = bytes.Clone(rest)
	}
	return c, nil
}

// decodePut parses and validates a TypePut payload.
func decodePut(payload json.RawMessage, l Limits) (putPayload, error) {
	var p putPayload
	if err := decodeStrict(payload, &p); err != nil {
		return putPayload{}, err
	}
	if err := ValidateKey(p.Key, l); err != nil {
		return putPayload{}, err
	}
	if err := ValidateValue(p.Value, l); err != nil {
		return putPayload{}, err
	}
	return p, nil
}

// decodeDelete parses and validates a TypeDelete payload.
func decodeDelete(payload json.RawMessage, l Limits) (deletePayload, error) {
	var p deletePayload
	if err := decodeStrict(payload, &p); err != nil {
		return deletePayload{}, err
	}
	if err := ValidateKey(p.Key, l); err != nil {
		return deletePayload{}, err
	}
	return p, nil
}

// decodeStrict decodes one JSON object into v and refuses unknown fields
// and trailing data. Refusing unknown fields matters for determinism: a
// field this version does not understand must fail the command the same
// way everywhere rather than be half-applied.
func decodeStrict(payload json.RawMessage, v any) error {
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) == 0 {
		return fmt.Errorf("%w: payload is missing", ErrInvalidCommand)
	}
	if trimmed[0] != '{' {
		return fmt.Errorf("%w: payload is not a JSON object", ErrInvalidCommand)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: payload: %v", ErrInvalidCommand, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: trailing data after the payload", ErrInvalidCommand)
	}
	return nil
}
