package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
)

// forwardedRequestHeaders are the request headers the leader needs to answer
// as if it had been asked directly.
var forwardedRequestHeaders = []string{"Authorization", "Content-Type", "Accept"}

// forwardedResponseHeaders are the leader's answer headers copied back.
var forwardedResponseHeaders = []string{"Content-Type", HeaderIndex, HeaderKnownLeader, HeaderLastContact, HeaderStale}

// forward proxies r to the leader's API and copies its answer back. The body
// is read first (it is already capped), so an oversized one is a clean 413
// rather than a broken upstream connection.
func (s *Server) forward(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(ForwardedHeader) != "" {
		writeError(w, http.StatusServiceUnavailable, "leadership changed while the request was being forwarded; retry")
		return
	}
	addr := s.b.LeaderHTTPAddr()
	if addr == "" {
		writeError(w, http.StatusServiceUnavailable, "%v: retry once a leader is elected", ErrNoLeader)
		return
	}
	var body []byte
	if r.Body != nil {
		b, err := readBody(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		body = b
	}
	s.forwardTo(w, r, addr, body)
}

// forwardTo proxies r, with body already read, to the leader at addr.
func (s *Server) forwardTo(w http.ResponseWriter, r *http.Request, addr string, body []byte) {
	u := url.URL{Scheme: s.scheme, Host: addr, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "cannot build the request to the leader at %s: %v", addr, err)
		return
	}
	for _, h := range forwardedRequestHeaders {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	req.Header.Set(ForwardedHeader, "1")
	if s.logger.IsDebug() { // spares building the arguments on every forwarded request
		s.logger.Debug("forwarding to the leader", "method", r.Method, "path", r.URL.Path, "leader_addr", addr)
	}
	client := s.fwd
	if isBlocking(r) {
		client = s.fwdBlocking
	}
	resp, err := client.Do(req)
	if err != nil {
		code := http.StatusServiceUnavailable
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			code = http.StatusGatewayTimeout
		}
		s.logger.Warn("forwarding to the leader failed", "leader_addr", addr, "error", err)
		writeError(w, code, "cannot reach the leader at %s: %v", addr, err)
		return
	}
	defer resp.Body.Close()
	// The names are canonical (TestHeaderKeysAreCanonical): copy the
	// leader's values as they are, without canonicalising again.
	for _, h := range forwardedResponseHeaders {
		if v := resp.Header[h]; len(v) > 0 {
			w.Header()[h] = v
		}
	}
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(w, resp.Body); err != nil {
		s.logger.Debug("copying the leader's answer failed", "leader_addr", addr, "error", err)
	}
}
