package tlsutil

import "errors"

// Sentinel errors. Every error returned by this package that concerns a file
// names that file and wraps one of these, so callers can branch with errors.Is
// while operators still read which file is at fault.
var (
	// ErrInvalidConfig is wrapped by Config.Validate errors.
	ErrInvalidConfig = errors.New("invalid tls config")
	// ErrUnreadable means a file could not be read.
	ErrUnreadable = errors.New("file unreadable")
	// ErrNotPEM means a file holds no PEM block of the expected kind.
	ErrNotPEM = errors.New("no PEM data of the expected kind")
	// ErrKeyMismatch means the private key does not belong to the certificate.
	ErrKeyMismatch = errors.New("private key does not match certificate")
	// ErrNotSignedByCA means the certificate does not chain to the CA bundle.
	ErrNotSignedByCA = errors.New("certificate not signed by the CA")
	// ErrExpired means a certificate is outside its validity window.
	ErrExpired = errors.New("certificate expired or not yet valid")
	// ErrBadUsage means a certificate lacks a usage this package requires.
	ErrBadUsage = errors.New("certificate usage not allowed")
	// ErrNoPeerCertificate means the remote side presented no certificate.
	ErrNoPeerCertificate = errors.New("peer presented no certificate")
	// ErrNameNotAllowed means a peer's certificate chains to the CA but
	// carries none of the names in Config.ServerNames.
	ErrNameNotAllowed = errors.New("certificate name not in the server-name allow-list")
)
