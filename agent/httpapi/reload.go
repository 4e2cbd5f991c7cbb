package httpapi

import "net/http"

// handleReload reloads this agent's TLS material. Like leave it is never
// forwarded: each agent has its own certificate files.
func (s *Server) handleReload(w http.ResponseWriter, r *http.Request) {
	if err := s.b.Reload(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, OK{OK: true})
}
