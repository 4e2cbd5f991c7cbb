package kv

import "errors"

// Sentinel errors. Every error this package returns wraps one of them with
// %w and adds what exactly was wrong, so callers map them with errors.Is
// (the HTTP layer: ErrInvalidKey and ErrInvalidCommand to 400,
// ErrValueTooLarge to 413).
var (
	// ErrInvalidKey is wrapped by key validation errors: empty, too long,
	// not UTF-8, a control character, an empty, "." or ".." segment.
	ErrInvalidKey = errors.New("invalid key")
	// ErrValueTooLarge is wrapped when a value exceeds Limits.MaxValueBytes.
	ErrValueTooLarge = errors.New("value too large")
	// ErrInvalidLimits is wrapped by Limits.Validate errors.
	ErrInvalidLimits = errors.New("invalid limits")
	// ErrInvalidCommand is wrapped when a kv mutation's payload does not
	// decode (bad JSON, a missing key, an unknown field, trailing data).
	ErrInvalidCommand = errors.New("invalid command")
	// ErrOutOfOrder is returned by Apply for a log index at or below the
	// last one applied: raft never does that, so the entry is refused
	// rather than allowed to rewind the state.
	ErrOutOfOrder = errors.New("log entry out of order")
	// ErrCorruptSnapshot is wrapped by Restore when the stream is not a
	// well-formed snapshot: bad magic, truncated, a bad checksum, a bad
	// record. The store keeps its previous state.
	ErrCorruptSnapshot = errors.New("corrupt snapshot")
	// ErrLeaseNotFound is wrapped by Apply for a put naming a lease that
	// does not exist (never granted, revoked or expired).
	ErrLeaseNotFound = errors.New("lease not found")
	// ErrUnsupportedSnapshot is wrapped by Restore for a snapshot written in
	// a format version this build does not read.
	ErrUnsupportedSnapshot = errors.New("unsupported snapshot version")
)
