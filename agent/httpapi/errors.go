package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// statusFor maps a Backend error to an HTTP status. ErrNotLeader is handled
// before this by forwarding; reaching here it means there was nobody to
// forward to.
func statusFor(err error) int {
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, ErrNotLeader), errors.Is(err, ErrNoLeader), errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrNotServer):
		return http.StatusBadRequest
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge
	default:
		return http.StatusInternalServerError
	}
}

// fail answers err with its mapped status and logs server-side failures.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := statusFor(err)
	if code >= http.StatusInternalServerError {
		s.logger.Warn("request failed", "method", r.Method, "path", r.URL.Path, "code", code, "error", err)
	} else {
		s.logger.Debug("request refused", "method", r.Method, "path", r.URL.Path, "code", code, "error", err)
	}
	writeError(w, code, "%s", message(err))
}

// kinds are the sentinels a Backend wraps its errors in to choose the
// status; the status already says which, so an answer does not repeat it.
var kinds = []error{ErrNotLeader, ErrNoLeader, ErrNotFound, ErrBadRequest, ErrConflict, ErrUnavailable, ErrTooLarge}

// message is the text a person reads for err. net/http's own words for an
// oversized streamed body ("http: request body too large") do not say what
// the limit is, so they become the sentence a too-long Content-Length
// gets; a leading "bad request: " (and the like) is dropped where a more
// precise text follows it.
func message(err error) string {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return fmt.Sprintf("request body exceeds the %d-byte limit", tooBig.Limit)
	}
	text := err.Error()
	for _, k := range kinds {
		if rest, ok := strings.CutPrefix(text, k.Error()+": "); ok && rest != "" && errors.Is(err, k) {
			return rest
		}
	}
	return text
}

// writeError answers {"error": "..."} with code.
func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, ErrorBody{Error: fmt.Sprintf(format, args...)})
}

// writeJSON answers v as JSON with code. Encoding our own response types
// cannot fail, so an error here means the client went away; nothing to do.
func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		body = []byte(`{"error":"cannot encode the response"}`)
	}
	writeJSONBytes(w, code, append(body, '\n'))
}

// Shared header values. net/http only reads a handler's header values (it
// copies them when writing), and Header.Set replaces a slice rather than
// changing it, so one slice can serve every response.
var (
	jsonContentType = []string{"application/json"}
	noSniff         = []string{"nosniff"}
)

// writeJSONBytes answers body, already encoded JSON, with code. It sets the
// headers by their canonical keys directly: Header.Set would canonicalise
// and allocate a slice for each, on every request.
func writeJSONBytes(w http.ResponseWriter, code int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = noSniff
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
