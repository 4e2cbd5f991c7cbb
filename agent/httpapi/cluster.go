package httpapi

import (
	"context"
	"errors"
	"net/http"
)

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.b.Status())
}

func (s *Server) handleMembers(w http.ResponseWriter, _ *http.Request) {
	members := s.b.Members()
	if members == nil {
		members = []Member{} // an empty pool is [], never null
	}
	writeJSON(w, http.StatusOK, members)
}

func (s *Server) handleRaftConfiguration(w http.ResponseWriter, r *http.Request) {
	cfg, err := s.b.RaftConfiguration(r.Context())
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	if cfg.Servers == nil {
		cfg.Servers = []RaftServer{}
	}
	writeJSON(w, http.StatusOK, cfg)
}

func (s *Server) handleAutopilotHealth(w http.ResponseWriter, r *http.Request) {
	h, err := s.b.AutopilotHealth(r.Context())
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	if h.Voters == nil {
		h.Voters = []string{}
	}
	if h.Servers == nil {
		h.Servers = []AutopilotServer{}
	}
	writeJSON(w, http.StatusOK, h)
}

func (s *Server) handleRemovePeer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id == "" {
		writeError(w, http.StatusBadRequest, "missing peer ID in the path: DELETE /v1/raft/peers/{id}")
		return
	}
	s.leaderWrite(w, r, func(ctx context.Context) error { return s.b.RemovePeer(ctx, id) })
}

func (s *Server) handleTransferLeadership(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	s.leaderWrite(w, r, func(ctx context.Context) error { return s.b.TransferLeadership(ctx, id) })
}

// handleLeave makes this agent leave. It is never forwarded: a stray
// ErrNotLeader must not make another node leave.
func (s *Server) handleLeave(w http.ResponseWriter, r *http.Request) {
	if err := s.b.Leave(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, OK{OK: true})
}

func (s *Server) handleLive(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, OK{OK: true})
}

func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	if err := s.b.Ready(); err != nil {
		writeError(w, http.StatusServiceUnavailable, "not ready: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, OK{OK: true})
}

func (s *Server) handleServerStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.b.ServerStats())
}

// leaderWrite runs an operator write here when this node leads, and forwards
// it to the leader otherwise or when leadership moved during the call.
func (s *Server) leaderWrite(w http.ResponseWriter, r *http.Request, do func(context.Context) error) {
	if !s.b.IsLeader() {
		s.forward(w, r)
		return
	}
	if err := do(r.Context()); err != nil {
		s.backendError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, OK{OK: true})
}

// backendError forwards on ErrNotLeader and maps any other error to a status.
// Only handlers that have not consumed the request body may call it.
func (s *Server) backendError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrNotLeader) {
		s.forward(w, r)
		return
	}
	s.fail(w, r, err)
}
