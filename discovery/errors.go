package discovery

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is; the returned errors wrap
// them with the detail (which field, which address, which byte count).
var (
	// ErrInvalidConfig wraps every Config.Validate failure; the message names
	// the field.
	ErrInvalidConfig = errors.New("discovery: invalid config")

	// ErrMetaTooLarge is returned when metadata would not fit in memberlist's
	// node meta (MaxMetaSize bytes).
	ErrMetaTooLarge = errors.New("discovery: node metadata too large")

	// ErrInvalidMeta is returned for metadata that fails validation or cannot
	// be decoded (empty, truncated, unknown version, malformed).
	ErrInvalidMeta = errors.New("discovery: invalid node metadata")

	// ErrShutdown is returned by operations on a Gossip that was shut down or
	// has left.
	ErrShutdown = errors.New("discovery: gossip is shut down")

	// ErrNoSeeds is returned by Join when it is given no usable address.
	ErrNoSeeds = errors.New("discovery: no addresses to join")

	// ErrJoin is returned by Join when no other member could be reached.
	ErrJoin = errors.New("discovery: join failed")

	// ErrClusterMismatch is the reason a peer from another cluster is refused.
	ErrClusterMismatch = errors.New("discovery: peer belongs to another cluster")

	// ErrNodeIDConflict is the reason a join is refused when another live
	// member, at another address, has this node's ID (two machines running
	// from copies of one data dir). The message names the ID and both
	// addresses.
	ErrNodeIDConflict = errors.New("discovery: node ID in use by another live member")

	// ErrInvalidPeersFile is returned when the remembered-members file cannot be
	// decoded.
	ErrInvalidPeersFile = errors.New("discovery: invalid remembered peers file")

	// ErrInvalidKey is returned for a gossip key that is not base64 of 16, 24
	// or 32 bytes. The message says which; it never contains the key.
	ErrInvalidKey = errors.New("discovery: invalid gossip key")

	// ErrEncryptionDisabled is returned by keyring operations on a node that
	// runs without gossip encryption (no key configured and no keyring file).
	ErrEncryptionDisabled = errors.New("discovery: gossip encryption is not enabled")

	// ErrKeyNotInstalled is returned when a key must be installed first (use).
	ErrKeyNotInstalled = errors.New("discovery: key is not installed")

	// ErrRemovePrimary is returned when asked to remove a key that is the
	// primary (the one messages are encrypted with): make another key primary
	// with use first.
	ErrRemovePrimary = errors.New("discovery: cannot remove the primary key")

	// ErrUnencryptedTransport is returned when an operation would send key
	// material while this node sends gossip unencrypted (AllowUnencrypted).
	ErrUnencryptedTransport = errors.New("discovery: outgoing gossip is not encrypted")

	// ErrKeyringMembers is returned by KeyringOp when some members failed or
	// did not answer; the message lists them. Members that succeeded keep the
	// change, and repeating the operation is safe.
	ErrKeyringMembers = errors.New("discovery: keyring operation failed on some members")

	// ErrInvalidKeyringFile is returned by New when the persisted keyring
	// cannot be read back.
	ErrInvalidKeyringFile = errors.New("discovery: invalid keyring file")
)

// fieldError is an error about one named field, wrapping the sentinel for its
// kind so callers can use errors.Is and people can read which field is wrong.
type fieldError struct {
	kind  error
	field string
	msg   string
}

func (e *fieldError) Error() string { return e.kind.Error() + ": " + e.field + " " + e.msg }
func (e *fieldError) Unwrap() error { return e.kind }

func newFieldError(kind error, field, format string, args ...any) error {
	return &fieldError{kind: kind, field: field, msg: fmt.Sprintf(format, args...)}
}
