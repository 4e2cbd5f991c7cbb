package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
	writeError(w, code, "%s", err.Error())
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
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}
