// Package command is the envelope of the commands in the Raft log: a
// Mutation (a type and a payload), its compact binary encoding, and a Router
// that dispatches decoded mutations to handlers by type from a raft.FSM's
// Apply.
//
// It is a leaf: a deterministic state machine imports it without pulling in
// the node's storage, transport or metrics (raftnode re-exports Mutation for
// callers of Node.Apply).
package command

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

var (
	// ErrUnknownMutation is the FSM response for a mutation type no handler
	// is registered for.
	ErrUnknownMutation = errors.New("unknown mutation type")
	// ErrInvalidMutation is returned for bytes that are not a valid encoded
	// Mutation.
	ErrInvalidMutation = errors.New("invalid mutation")
)

// maxMutationTypeLen bounds Mutation.Type; types are short identifiers such
// as "kv.put".
const maxMutationTypeLen = 128

// Mutation is the envelope for commands in the Raft log: a type that selects
// the handler and a payload the handler decodes.
//
// Entries are encoded compactly (BinaryMagic, the type's length and bytes,
// then the payload): every node decodes every entry, so the envelope must
// cost next to nothing on the write path. Entries written as a JSON
// envelope by earlier versions ({"type":…,"payload":…}) still decode.
type Mutation struct {
	// Type selects the handler; non-empty, at most 128 bytes.
	Type string `json:"type"`
	// Payload is the handler's argument, opaque to the envelope: JSON when
	// built by NewMutation, or any encoding the handler defines (the
	// key/value store uses a binary one). Empty means none.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// BinaryMagic starts an encoded Mutation. It can be neither the start of a
// JSON envelope ('{' or whitespace) nor of raftnode's own cluster-ID entry
// (0x00), so every entry has one reading; other log entries a node writes
// must not start with it.
const BinaryMagic byte = 0x01

// NewMutation builds a Mutation, marshalling payload to JSON (nil payload:
// none).
func NewMutation(typ string, payload any) (Mutation, error) {
	m := Mutation{Type: typ}
	if err := m.validate(); err != nil {
		return Mutation{}, err
	}
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return Mutation{}, fmt.Errorf("%w: payload of %q: %v", ErrInvalidMutation, typ, err)
		}
		m.Payload = b
	}
	return m, nil
}

// Encode returns the log bytes for m.
func (m Mutation) Encode() ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 1+binary.MaxVarintLen16+len(m.Type)+len(m.Payload))
	b = append(b, BinaryMagic)
	b = binary.AppendUvarint(b, uint64(len(m.Type)))
	b = append(b, m.Type...)
	return append(b, m.Payload...), nil
}

// DecodeMutation parses log bytes written by Encode, or a JSON envelope
// written by an earlier version. It rejects anything else (empty input,
// trailing data after a JSON envelope, a missing or oversized type) with an
// error wrapping ErrInvalidMutation, and never panics. The payload of a
// binary entry aliases b: handlers that keep it must copy it.
func DecodeMutation(b []byte) (Mutation, error) {
	if len(b) > 0 && b[0] == BinaryMagic {
		return decodeBinary(b[1:])
	}
	return decodeJSON(b)
}

func decodeBinary(b []byte) (Mutation, error) {
	n, size := binary.Uvarint(b)
	if size <= 0 || n > maxMutationTypeLen || n > uint64(len(b)-size) {
		return Mutation{}, fmt.Errorf("%w: bad type length", ErrInvalidMutation)
	}
	rest := b[size:]
	m := Mutation{Type: string(rest[:n])}
	if len(rest) > int(n) {
		m.Payload = rest[n:]
	}
	return m, m.validate()
}

func decodeJSON(b []byte) (Mutation, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return Mutation{}, fmt.Errorf("%w: empty entry", ErrInvalidMutation)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var m Mutation
	if err := dec.Decode(&m); err != nil {
		return Mutation{}, fmt.Errorf("%w: %v", ErrInvalidMutation, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Mutation{}, fmt.Errorf("%w: trailing data after the mutation", ErrInvalidMutation)
	}
	if err := m.validate(); err != nil {
		return Mutation{}, err
	}
	if bytes.Equal(m.Payload, []byte("null")) {
		m.Payload = nil
	}
	return m, nil
}

func (m Mutation) validate() error {
	if m.Type == "" {
		return fmt.Errorf("%w: type is empty", ErrInvalidMutation)
	}
	if len(m.Type) > maxMutationTypeLen {
		return fmt.Errorf("%w: type is longer than %d bytes", ErrInvalidMutation, maxMutationTypeLen)
	}
	return nil
}

// Handler applies one mutation's payload at the given log index and returns
// the FSM response (an error value reports a rejected command; it is still
// committed). Handlers run on raft's FSM goroutine, one at a time, and must
// be deterministic. The payload shares memory with the log entry: a handler
// that keeps it (or part of it) must copy it, and none may modify it.
type Handler func(index uint64, payload json.RawMessage) any

// Router dispatches decoded mutations to handlers by type. A state machine
// embeds or holds one and calls Apply from its raft.FSM Apply. Register every
// handler before the node starts; Handle and Apply are nonetheless safe to
// call concurrently.
type Router struct {
	mu       sync.RWMutex
	handlers map[string]Handler
}

// NewRouter returns an empty Router.
func NewRouter() *Router {
	return &Router{handlers: make(map[string]Handler)}
}

// Handle registers h for typ. Registering an empty type, a nil handler or a
// type twice is a programming error and panics, like http.ServeMux.
func (m *Router) Handle(typ string, h Handler) {
	if err := (Mutation{Type: typ}).validate(); err != nil {
		panic(fmt.Sprintf("command: Router.Handle: %v", err))
	}
	if h == nil {
		panic(fmt.Sprintf("command: Router.Handle(%q): nil handler", typ))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.handlers[typ]; dup {
		panic(fmt.Sprintf("command: Router.Handle(%q): registered twice", typ))
	}
	m.handlers[typ] = h
}

// Apply decodes l.Data and runs the handler for its type. A log entry that
// does not decode returns an error wrapping ErrInvalidMutation, an unknown
// type one wrapping ErrUnknownMutation; both are returned as the FSM
// response, never panicked, so every node rejects the entry the same way.
func (m *Router) Apply(l *raft.Log) any {
	mut, err := DecodeMutation(l.Data)
	if err != nil {
		return fmt.Errorf("entry %d: %w", l.Index, err)
	}
	m.mu.RLock()
	h, ok := m.handlers[mut.Type]
	m.mu.RUnlock()
	if !ok {
		return fmt.Errorf("entry %d: %w: %q", l.Index, ErrUnknownMutation, mut.Type)
	}
	return h(l.Index, mut.Payload)
}
