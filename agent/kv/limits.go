package kv

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Defaults and hard ceilings for Limits. The ceilings also bound what
// Restore accepts, so a corrupt length field can never make it allocate
// more than one ceiling-sized buffer.
const (
	// DefaultMaxKeyBytes is the default Limits.MaxKeyBytes.
	DefaultMaxKeyBytes = 512
	// DefaultMaxValueBytes is the default Limits.MaxValueBytes (512 KiB):
	// every value travels through the raft log and every follower's
	// snapshot, so large blobs belong elsewhere.
	DefaultMaxValueBytes = 512 << 10
	// MaxKeyBytesCeiling is the largest Limits.MaxKeyBytes allowed.
	MaxKeyBytesCeiling = 64 << 10
	// MaxValueBytesCeiling is the largest Limits.MaxValueBytes allowed.
	MaxValueBytesCeiling = 64 << 20
)

// Limits bounds keys and values. Apply enforces them on every replica, so
// all servers of a cluster must run with the same Limits: a replica with a
// smaller limit would refuse a put the others applied, and the replicas
// would diverge for good. A limit an operator may tune per node belongs
// in front of the log (checked before proposing), with the store keeping
// a limit at least as large and the same everywhere.
type Limits struct {
	// MaxKeyBytes is the longest key in bytes (1..MaxKeyBytesCeiling).
	// Default 512.
	MaxKeyBytes int
	// MaxValueBytes is the largest value in bytes (1..MaxValueBytesCeiling).
	// Default 512 KiB.
	MaxValueBytes int
	// MaxTombstones is how many deleted keys the store remembers for
	// blocking reads (0..MaxTombstonesCeiling; 0 means
	// DefaultMaxTombstones). Like the other limits it changes what Apply
	// does, so it must be the same on every server.
	MaxTombstones int
}

// DefaultMaxTombstones is the default Limits.MaxTombstones: the tombstone
// horizon. A watcher misses no deletion as long as fewer deletions than
// this happened since the index it holds; past that it is answered at once
// (see the package doc). At ~100 bytes per tombstone it costs ~1.6 MiB.
const DefaultMaxTombstones = 16384

// MaxTombstonesCeiling is the largest Limits.MaxTombstones allowed.
const MaxTombstonesCeiling = 1 << 24

// tombstoneCap returns the effective tombstone limit.
func (l Limits) tombstoneCap() int {
	if l.MaxTombstones == 0 {
		return DefaultMaxTombstones
	}
	return l.MaxTombstones
}

// DefaultLimits returns the limits every agent uses unless told otherwise.
func DefaultLimits() Limits {
	return Limits{MaxKeyBytes: DefaultMaxKeyBytes, MaxValueBytes: DefaultMaxValueBytes}
}

// ceilingLimits is what Restore checks records against: a snapshot written
// by a store with larger limits must still load.
var ceilingLimits = Limits{MaxKeyBytes: MaxKeyBytesCeiling, MaxValueBytes: MaxValueBytesCeiling}

// Validate reports the first field out of range, by name.
func (l Limits) Validate() error {
	if l.MaxKeyBytes < 1 || l.MaxKeyBytes > MaxKeyBytesCeiling {
		return fmt.Errorf("%w: MaxKeyBytes is %d, must be between 1 and %d",
			ErrInvalidLimits, l.MaxKeyBytes, MaxKeyBytesCeiling)
	}
	if l.MaxValueBytes < 1 || l.MaxValueBytes > MaxValueBytesCeiling {
		return fmt.Errorf("%w: MaxValueBytes is %d, must be between 1 and %d",
			ErrInvalidLimits, l.MaxValueBytes, MaxValueBytesCeiling)
	}
	if l.MaxTombstones < 0 || l.MaxTombstones > MaxTombstonesCeiling {
		return fmt.Errorf("%w: MaxTombstones is %d, must be between 0 (the default) and %d",
			ErrInvalidLimits, l.MaxTombstones, MaxTombstonesCeiling)
	}
	return nil
}

// ValidateKey checks key against the key rules: 1..l.MaxKeyBytes bytes of
// valid UTF-8 without control characters, made of "/"-separated segments
// none of which is empty (no leading, trailing or doubled "/"), "." or
// "..". The rules keep keys usable as URL paths and file-like names, so
// "a/./b" and "a/b" can never be two different keys that look alike. The
// error wraps ErrInvalidKey and says what is wrong and where.
func ValidateKey(key string, l Limits) error {
	return validateKey([]byte(key), l.MaxKeyBytes)
}

// validateKey works on bytes so Restore can check records without a
// string copy; error paths copy what they quote, so key never escapes.
func validateKey(key []byte, maxBytes int) error {
	if len(key) == 0 {
		return fmt.Errorf("%w: key is empty", ErrInvalidKey)
	}
	if len(key) > maxBytes {
		return fmt.Errorf("%w: key %q... is %d bytes, the limit is %d",
			ErrInvalidKey, keyPrefix(key), len(key), maxBytes)
	}
	segStart := 0
	for i := 0; i < len(key); {
		r, size := utf8.DecodeRune(key[i:])
		if r == utf8.RuneError && size <= 1 {
			return fmt.Errorf("%w: %s is not valid UTF-8 (at byte %d)", ErrInvalidKey, quoteKey(key), i)
		}
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %s contains control character %U at byte %d",
				ErrInvalidKey, quoteKey(key), r, i)
		}
		if r == '/' {
			if err := checkSegment(key, segStart, i); err != nil {
				return err
			}
			segStart = i + 1
		}
		i += size
	}
	return checkSegment(key, segStart, len(key))
}

// checkSegment checks key[start:end], the segment that ends at a "/" or at
// the end of the key.
func checkSegment(key []byte, start, end int) error {
	seg := key[start:end]
	switch {
	case len(seg) == 0 && start == 0:
		return fmt.Errorf("%w: %s starts with \"/\"", ErrInvalidKey, quoteKey(key))
	case len(seg) == 0 && end == len(key):
		return fmt.Errorf("%w: %s ends with \"/\"", ErrInvalidKey, quoteKey(key))
	case len(seg) == 0:
		return fmt.Errorf("%w: %s has an empty segment (\"//\") at byte %d", ErrInvalidKey, quoteKey(key), start-1)
	case string(seg) == "." || string(seg) == "..":
		return fmt.Errorf("%w: %s has a %q segment at byte %d", ErrInvalidKey, quoteKey(key), string(seg), start)
	}
	return nil
}

// quoteKeyMax is how many bytes of a key an error message quotes: enough
// to recognise it, without echoing a 64 KiB key into a log line.
const quoteKeyMax = 48

// quoteKey quotes key for an error message, cut at a character boundary
// when long.
func quoteKey(key []byte) string {
	if len(key) <= quoteKeyMax {
		return fmt.Sprintf("key %q", string(key))
	}
	return fmt.Sprintf("key %q... (%d bytes)", keyPrefix(key), len(key))
}

// keyPrefix is the start of a key too long to quote whole, cut at a rune
// boundary.
func keyPrefix(key []byte) string {
	if len(key) <= quoteKeyMax {
		return string(key)
	}
	n := quoteKeyMax
	for n > quoteKeyMax-utf8.UTFMax && !utf8.RuneStart(key[n]) {
		n--
	}
	return string(key[:n])
}

// ValidateValue checks v against l.MaxValueBytes. Any bytes are allowed,
// including none. The error wraps ErrValueTooLarge.
func ValidateValue(v []byte, l Limits) error {
	if len(v) > l.MaxValueBytes {
		return fmt.Errorf("%w: value is %d bytes, the limit is %d", ErrValueTooLarge, len(v), l.MaxValueBytes)
	}
	return nil
}
