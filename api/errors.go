package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Errors a call's error matches with errors.Is. A non-2xx answer is a
// *StatusError carrying the server's message; it matches the sentinel its
// status (and, for 503, its message) stands for.
var (
	// ErrNotFound: the key, lease or server does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrCASFailed: a compare-and-set write or delete was not applied
	// because the key's modify index was not the one given. The server
	// answers 200 {"ok": false}; the Client turns that into this error.
	ErrCASFailed = errors.New("compare-and-set failed")
	// ErrNoLeader: the cluster has no leader, or leadership moved while the
	// request was handled (503 about leadership); retrying later may succeed.
	ErrNoLeader = errors.New("no cluster leader")
	// ErrUnavailable: any 503, ErrNoLeader included (not ready, shutting down).
	ErrUnavailable = errors.New("unavailable")
	// ErrUnauthorized: the agent requires a token and none was sent (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the token sent is wrong (403).
	ErrForbidden = errors.New("forbidden")
	// ErrBadRequest: the request is invalid (400).
	ErrBadRequest = errors.New("bad request")
	// ErrConflict: refused because of the current state (409), for example
	// a snapshot from another cluster without force.
	ErrConflict = errors.New("conflict")
	// ErrTooLarge: a key, value or body exceeds the server's limit (413).
	ErrTooLarge = errors.New("too large")
)

// StatusError is a non-2xx answer from the agent.
type StatusError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is the server's {"error": "..."} text, or a summary of a body
	// that is not one.
	Message string
	// Header holds the answer's headers: a 404 from a blocking read carries
	// the index to wait from next in HeaderIndex.
	Header http.Header
}

// Error returns the server's message as is, so a program can show it to a
// person unchanged.
func (e *StatusError) Error() string { return e.Message }

// Is reports whether e stands for target, one of the sentinels above.
func (e *StatusError) Is(target error) bool {
	for _, k := range kindsOf(e.StatusCode, e.Message) {
		if k == target {
			return true
		}
	}
	return false
}

// kindsOf maps a status and message to the sentinels it matches. The
// server answers 503 for several reasons; the ones about leadership name
// the leader in their message, which is what tells them apart.
func kindsOf(status int, msg string) []error {
	switch status {
	case http.StatusNotFound:
		return []error{ErrNotFound}
	case http.StatusBadRequest:
		return []error{ErrBadRequest}
	case http.StatusUnauthorized:
		return []error{ErrUnauthorized}
	case http.StatusForbidden:
		return []error{ErrForbidden}
	case http.StatusConflict:
		return []error{ErrConflict}
	case http.StatusRequestEntityTooLarge:
		return []error{ErrTooLarge}
	case http.StatusServiceUnavailable:
		if strings.Contains(strings.ToLower(msg), "leader") {
			return []error{ErrUnavailable, ErrNoLeader}
		}
		return []error{ErrUnavailable}
	}
	return nil
}

// errorMessage is the text of an error answer: the JSON error when there
// is one, else the start of the body, else the status.
func errorMessage(status int, body []byte) string {
	var e ErrorBody
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	text := strings.TrimSpace(string(body))
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	if text == "" {
		return fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	}
	return fmt.Sprintf("HTTP %d: %s", status, text)
}
