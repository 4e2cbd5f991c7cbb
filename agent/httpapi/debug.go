package httpapi

import "net/http/pprof"

// debugRoutes mounts Go's profiler. The handlers are registered on this
// server's own mux, not http.DefaultServeMux, so nothing else in the
// process can expose them by accident.
func (s *Server) debugRoutes() {
	s.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	s.mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	s.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	s.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
