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

	// ErrInvalidPeersFile is returned when the remembered-members file cannot be
	// decoded.
	ErrInvalidPeersFile = errors.New("discovery: invalid remembered peers file")
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
