// Package httpapi serves the agent's HTTP API: routing, JSON encoding, token
// checks, request metrics, mapping Backend errors to status codes and
// forwarding operator writes to the Raft leader. It sees the agent only
// through the Backend interface.
package httpapi

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxBodyBytes caps request bodies when Config.MaxBodyBytes is 0.
const DefaultMaxBodyBytes int64 = 1 << 20

// ForwardedHeader marks a request one agent forwarded to the leader. A request
// carrying it is never forwarded again, so a stale leader hint cannot make two
// agents bounce a request between them.
const ForwardedHeader = "X-Agent-Forwarded"

// defaultForwardTimeout bounds a forwarded request when Config.ForwardClient
// is nil. Transferring leadership can take a few election timeouts.
const defaultForwardTimeout = 30 * time.Second

// Config configures a Server. The zero value is usable: no token, a null
// logger, no /metrics endpoint, an unregistered request counter.
type Config struct {
	// Token, when not empty, is required on every endpoint except the health
	// probes as "Authorization: Bearer TOKEN". It is never logged.
	Token string
	// Logger receives request errors. Pass the agent's "http" sub-logger; the
	// server does not name it again. Default: a null logger.
	Logger hclog.Logger
	// Metrics, when not nil, is served at GET /metrics (Prometheus text format).
	Metrics http.Handler
	// Registerer, when not nil, receives the http_requests_total{code,method}
	// counter. Registering twice in one registry reuses the first counter.
	Registerer prometheus.Registerer
	// MaxBodyBytes caps request bodies; larger ones get 413. Default 1 MiB.
	MaxBodyBytes int64
	// MaxSnapshotBytes caps the body of PUT /v1/snapshot instead (a
	// snapshot of a large store far exceeds MaxBodyBytes); larger ones get
	// 413. Default DefaultMaxSnapshotBytes (16 GiB).
	MaxSnapshotBytes int64
	// ForwardClient sends forwarded writes to the leader. Default: a client
	// with a 30s timeout. Give it the TLS client config when the API uses HTTPS.
	ForwardClient *http.Client
	// ForwardScheme is "http" or "https", the scheme of the leader's API. Default "http".
	ForwardScheme string
	// OpenReads lets reads of cluster state and the key/value store (the
	// GET endpoints listed in openReadPatterns) through without a token
	// while writes and operator calls still need it. Off by default.
	OpenReads bool
	// LeaderWait bounds how long writes and linearizable reads wait for a
	// leader when none is known, before answering 503. Default 5s.
	LeaderWait time.Duration
	// EnableDebug serves net/http/pprof under /debug/pprof/, behind the
	// token. Off by default: a profile exposes the process's internals.
	EnableDebug bool
}

// Server is the HTTP API handler. It is safe for concurrent use.
type Server struct {
	b       Backend
	token   []byte
	logger  hclog.Logger
	maxBody int64
	// maxSnapshot: see Config.MaxSnapshotBytes.
	maxSnapshot int64
	fwd         *http.Client
	// fwdBlocking forwards blocking reads: fwd's transport without its
	// timeout, which is sized for ordinary requests; the request's context
	// (the client, and the leader's own wait) bounds it instead.
	fwdBlocking *http.Client
	scheme      string
	// leaderWait: see Config.LeaderWait.
	leaderWait time.Duration
	requests   *prometheus.CounterVec
	// requestCounters caches requests' children by requestKey; codes and
	// methods are bounded, so it stays small.
	requestCounters sync.Map
	mux             *http.ServeMux
	// public holds the mux patterns that need no token: the probes must work
	// for orchestrators that hold no secret.
	public map[string]bool
	// openReads: see Config.OpenReads.
	openReads bool
}

// New returns a Server answering from b.
func New(b Backend, cfg Config) *Server {
	s := &Server{
		b:           b,
		token:       []byte(cfg.Token),
		logger:      cfg.Logger,
		maxBody:     cfg.MaxBodyBytes,
		maxSnapshot: cfg.MaxSnapshotBytes,
		fwd:         cfg.ForwardClient,
		scheme:      cfg.ForwardScheme,
		leaderWait:  cfg.LeaderWait,
		mux:         http.NewServeMux(),
		public:      map[string]bool{},
		openReads:   cfg.OpenReads,
	}
	if s.logger == nil {
		s.logger = hclog.NewNullLogger()
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.maxSnapshot <= 0 {
		s.maxSnapshot = DefaultMaxSnapshotBytes
	}
	if s.fwd == nil {
		s.fwd = &http.Client{Timeout: defaultForwardTimeout}
	}
	s.fwdBlocking = &http.Client{Transport: s.fwd.Transport, CheckRedirect: s.fwd.CheckRedirect, Jar: s.fwd.Jar}
	if s.scheme == "" {
		s.scheme = "http"
	}
	if s.leaderWait <= 0 {
		s.leaderWait = DefaultLeaderWait
	}
	s.requests = requestCounter(cfg.Registerer)
	s.routes(cfg.Metrics)
	if cfg.EnableDebug {
		s.debugRoutes()
	}
	return s
}

// routes registers every endpoint. Method patterns let the mux tell an
// unknown path (404) from a wrong method (405).
func (s *Server) routes(metrics http.Handler) {
	s.mux.HandleFunc("GET /v1/status", s.handleStatus)
	s.mux.HandleFunc("GET /v1/members", s.handleMembers)
	s.mux.HandleFunc("GET /v1/raft/configuration", s.handleRaftConfiguration)
	s.mux.HandleFunc("DELETE /v1/raft/peers/{id}", s.handleRemovePeer)
	s.mux.HandleFunc("POST /v1/raft/transfer-leadership", s.handleTransferLeadership)
	s.mux.HandleFunc("GET /v1/autopilot/health", s.handleAutopilotHealth)
	s.mux.HandleFunc("POST /v1/agent/leave", s.handleLeave)
	s.mux.HandleFunc("POST /v1/agent/reload", s.handleReload)
	s.keyringRoutes()
	s.mux.HandleFunc("GET /v1/internal/stats", s.handleServerStats)
	s.kvRoutes()
	s.leaseRoutes()
	s.snapshotRoutes()
	s.publicRoute("GET /v1/health/live", s.handleLive)
	s.publicRoute("GET /v1/health/ready", s.handleReady)
	if metrics != nil {
		s.mux.Handle("GET /metrics", metrics)
	}
}

// openReadPatterns are the reads Config.OpenReads opens. The keyring list,
// internal stats and every write stay behind the token.
var openReadPatterns = map[string]bool{
	"GET /v1/status":             true,
	"GET /v1/members":            true,
	"GET /v1/raft/configuration": true,
	"GET /v1/autopilot/health":   true,
	"GET /v1/kv/{key...}":        true,
	"GET /metrics":               true,
}

func (s *Server) publicRoute(pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, h)
	s.public[pattern] = true
}

// ServeHTTP counts the request, caps its body, checks the token and routes it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	defer func() { s.countRequest(r.Method, sw.code()) }()
	s.serve(sw, r)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	limit := s.maxBody
	if r.Method == http.MethodPut && r.URL.Path == snapshotPath {
		limit = s.maxSnapshot
	}
	if r.ContentLength > limit {
		writeError(w, http.StatusRequestEntityTooLarge, "request body exceeds the %d-byte limit", limit)
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	if msg := uncleanPath(r.URL.Path); msg != "" {
		// ServeMux would redirect to the cleaned path, silently turning a
		// write to "a/../b" into a write to "b": refuse instead.
		writeError(w, http.StatusBadRequest, "path %q %s", r.URL.Path, msg)
		return
	}
	h, pattern := s.mux.Handler(r)
	if !s.public[pattern] && !(s.openReads && openReadPatterns[pattern]) && !s.authorized(w, r) {
		return
	}
	if pattern == "" {
		s.serveUnrouted(w, r, h)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// uncleanPath says what is wrong with a path that has empty, "." or ".."
// segments, or "" when it is clean. A trailing slash is allowed (the KV
// listing is GET /v1/kv/).
func uncleanPath(p string) string {
	segs := strings.Split(strings.TrimSuffix(strings.TrimPrefix(p, "/"), "/"), "/")
	for _, seg := range segs {
		switch seg {
		case "":
			if p != "/" {
				return "has an empty segment"
			}
		case ".", "..":
			return "has a '" + seg + "' segment"
		}
	}
	return ""
}

// authorized checks the bearer token and answers 401 or 403 when it is
// missing or wrong.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if len(s.token) == 0 {
		return true
	}
	auth := r.Header.Get("Authorization")
	got, ok := strings.CutPrefix(auth, "Bearer ")
	if auth == "" || !ok || strings.TrimSpace(got) == "" {
		writeError(w, http.StatusUnauthorized, "missing token: send \"Authorization: Bearer TOKEN\"")
		return false
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), s.token) != 1 {
		writeError(w, http.StatusForbidden, "invalid token")
		return false
	}
	return true
}

// serveUnrouted turns the mux's plain-text 404 and 405 answers into JSON
// errors, keeping the Allow header. Anything else the mux produces for an
// unrouted request (a redirect to the cleaned path) passes through.
func (s *Server) serveUnrouted(w http.ResponseWriter, r *http.Request, h http.Handler) {
	probe := &headerProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	switch probe.status {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", probe.header.Get("Allow"))
		writeError(w, http.StatusMethodNotAllowed, "method %s is not allowed on %s; allowed: %s",
			r.Method, r.URL.Path, probe.header.Get("Allow"))
	case http.StatusNotFound, 0:
		writeError(w, http.StatusNotFound, "no such endpoint: %s", r.URL.Path)
	default:
		for k, v := range probe.header {
			if k != "Content-Type" && k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(probe.status)
	}
}

// headerProbe records what a mux fallback handler would answer, without a body.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header { return p.header }

func (p *headerProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}

func (p *headerProbe) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}
