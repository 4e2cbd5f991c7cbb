package kv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/clusteragent/agent/raftnode"
)

// Mutation types of the kv commands. A change of meaning gets a new type
// (say "kv.put.v2"), never a new reading of an old one, so a log written by
// one version means the same to every later version.
const (
	// TypePut sets a key, optionally compare-and-set.
	TypePut = "kv.put"
	// TypeDelete removes a key, optionally compare-and-delete.
	TypeDelete = "kv.delete"
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
func PutMutation(key string, value []byte, cas *uint64) (raftnode.Mutation, error) {
	if err := ValidateKey(key, ceilingLimits); err != nil {
		return raftnode.Mutation{}, err
	}
	if err := ValidateValue(value, ceilingLimits); err != nil {
		return raftnode.Mutation{}, err
	}
	return raftnode.NewMutation(TypePut, putPayload{Key: key, Value: value, CAS: copyCAS(cas)})
}

// DeleteMutation builds the command that removes key. With cas nil it is
// unconditional (deleting a missing key succeeds); with *cas == 0 it
// succeeds only if the key is absent (a no-op); otherwise only if the
// key's modify index equals *cas. Like PutMutation it checks the key rules
// against the ceilings only.
func DeleteMutation(key string, cas *uint64) (raftnode.Mutation, error) {
	if err := ValidateKey(key, ceilingLimits); err != nil {
		return raftnode.Mutation{}, err
	}
	return raftnode.NewMutation(TypeDelete, deletePayload{Key: key, CAS: copyCAS(cas)})
}

// copyCAS detaches the payload from the caller's variable.
func copyCAS(cas *uint64) *uint64 {
	if cas == nil {
		return nil
	}
	v := *cas
	return &v
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
