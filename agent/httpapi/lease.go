package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// leaseGrantBody is the body of POST /v1/lease.
type leaseGrantBody struct {
	TTL string `json:"ttl"`
}

func (s *Server) leaseRoutes() {
	s.mux.HandleFunc("POST /v1/lease", s.handleLeaseGrant)
	s.mux.HandleFunc("PUT /v1/lease/{id}/renew", s.handleLeaseRenew)
	s.mux.HandleFunc("GET /v1/lease/{id}", s.handleLeaseShow)
	s.mux.HandleFunc("DELETE /v1/lease/{id}", s.handleLeaseRevoke)
}

// parseLeaseTTL reads a grant's body: {"ttl": "10s"}.
func parseLeaseTTL(body []byte) (time.Duration, error) {
	var b leaseGrantBody
	if err := json.Unmarshal(body, &b); err != nil {
		return 0, fmt.Errorf(`%w: the body must be {"ttl": "DURATION"}: %v`, ErrBadRequest, err)
	}
	ttl, err := time.ParseDuration(b.TTL)
	if err != nil {
		return 0, fmt.Errorf(`%w: ttl must be a duration such as "10s", got %q`, ErrBadRequest, b.TTL)
	}
	return ttl, nil
}

// parseLeaseID reads a lease ID (a positive decimal integer).
func parseLeaseID(v, what string) (uint64, error) {
	id, err := strconv.ParseUint(v, 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("%w: %s must be a lease ID (a positive integer), got %q", ErrBadRequest, what, v)
	}
	return id, nil
}

func (s *Server) handleLeaseGrant(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ttl, err := parseLeaseTTL(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.onLeader(w, r, body, func() error {
		info, err := s.b.LeaseGrant(r.Context(), ttl)
		return s.answer(w, r, info, err)
	})
}

// leaseByID runs call with the path's lease ID on the leader.
func (s *Server) leaseByID(w http.ResponseWriter, r *http.Request, call func(id uint64) (any, error)) {
	id, err := parseLeaseID(r.PathValue("id"), "the lease ID in the path")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.onLeader(w, r, nil, func() error {
		v, err := call(id)
		return s.answer(w, r, v, err)
	})
}

func (s *Server) handleLeaseRenew(w http.ResponseWriter, r *http.Request) {
	s.leaseByID(w, r, func(id uint64) (any, error) { return s.b.LeaseRenew(r.Context(), id) })
}

func (s *Server) handleLeaseShow(w http.ResponseWriter, r *http.Request) {
	s.leaseByID(w, r, func(id uint64) (any, error) { return s.b.LeaseShow(r.Context(), id) })
}

func (s *Server) handleLeaseRevoke(w http.ResponseWriter, r *http.Request) {
	s.leaseByID(w, r, func(id uint64) (any, error) { return s.b.LeaseRevoke(r.Context(), id) })
}

// answer writes v, or the error; ErrNotLeader goes back to onLeader.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, v any, err error) error {
	if errors.Is(err, ErrNotLeader) {
		return err
	}
	if err != nil {
		s.fail(w, r, err)
		return nil
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
