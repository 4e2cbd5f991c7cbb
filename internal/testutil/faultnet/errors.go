package faultnet

import (
	"errors"
	"os"
)

var (
	// ErrBlackholed is matched (errors.Is) by the timeout errors returned
	// when a dial, read or write waited on a fault until its deadline.
	ErrBlackholed = errors.New("faultnet: traffic blackholed by a network fault")
	// ErrClosed is returned by waits cut short by Network.Close.
	ErrClosed = errors.New("faultnet: network closed")
	// ErrInvalid is wrapped by every error about bad arguments.
	ErrInvalid = errors.New("faultnet: invalid argument")
)

// timeoutError is what a wait on a fault returns at its deadline. It is a
// net.Error with Timeout() true, so callers that retry on timeouts (raft's
// transport, memberlist) treat it like a real blackhole, and it matches both
// ErrBlackholed and os.ErrDeadlineExceeded.
type timeoutError struct{ what string }

func (e *timeoutError) Error() string {
	return "faultnet: " + e.what + " timed out: traffic blackholed by a network fault"
}

// Timeout reports true: the operation gave up at a deadline.
func (e *timeoutError) Timeout() bool { return true }

// Temporary reports true: the fault may heal.
func (e *timeoutError) Temporary() bool { return true }

func (e *timeoutError) Unwrap() []error { return []error{ErrBlackholed, os.ErrDeadlineExceeded} }
