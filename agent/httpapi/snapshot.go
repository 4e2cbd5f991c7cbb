package httpapi

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// DefaultMaxSnapshotBytes caps a snapshot uploaded to PUT /v1/snapshot when
// Config.MaxSnapshotBytes is 0: far above any store this agent holds in
// memory, and small enough that a runaway upload cannot fill a disk
// unnoticed. The upload goes to a file, so this bounds disk, not memory.
const DefaultMaxSnapshotBytes int64 = 16 << 30

// snapshotPath is the only route whose body is not capped by MaxBodyBytes.
const snapshotPath = "/v1/snapshot"

// SnapshotBackend is the part of the Backend that saves and restores
// snapshots. It is separate so backends without snapshots (test fakes)
// need not implement it; the routes answer 501 then.
type SnapshotBackend interface {
	// SnapshotSave takes a snapshot (through the leader unless stale;
	// ErrNotLeader on a follower then) and returns it, open.
	SnapshotSave(ctx context.Context, stale bool) (SnapshotArchive, error)
	// SnapshotRestore reads a whole archive from body, checks it, and
	// restores it once committed. ErrNotLeader on a follower (before body
	// is read), ErrBadRequest for a corrupt or unknown archive, ErrConflict
	// for another cluster's unless force; nothing changes on any error.
	SnapshotRestore(ctx context.Context, body io.Reader, force bool) (SnapshotRestored, error)
}

// SnapshotArchive is an open snapshot: WriteTo streams the archive once.
type SnapshotArchive interface {
	io.WriterTo
	io.Closer
	// Index is the Raft index the snapshot was taken at.
	Index() uint64
}

func (s *Server) snapshotRoutes() {
	s.mux.HandleFunc("GET /v1/snapshot", s.handleSnapshotSave)
	s.mux.HandleFunc("PUT /v1/snapshot", s.handleSnapshotRestore)
}

// snapshotDeadline replaces the server's read and write timeouts, sized
// for ordinary requests, on a snapshot transfer: it bounds a stuck client
// without cutting a large snapshot on a slow link.
const snapshotDeadline = time.Hour

func (s *Server) snapshotBackend(w http.ResponseWriter) (SnapshotBackend, bool) {
	sb, ok := s.b.(SnapshotBackend)
	if !ok {
		writeError(w, http.StatusNotImplemented, "snapshots are not available on this agent")
		return nil, false
	}
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(snapshotDeadline)
	_ = rc.SetReadDeadline(deadline) // unsupported (a test recorder): nothing to extend
	_ = rc.SetWriteDeadline(deadline)
	return sb, true
}

func (s *Server) handleSnapshotSave(w http.ResponseWriter, r *http.Request) {
	sb, ok := s.snapshotBackend(w)
	if !ok {
		return
	}
	stale := r.URL.Query().Has("stale")
	if !stale && !s.b.IsLeader() {
		s.forwardStream(w, r)
		return
	}
	arch, err := sb.SnapshotSave(r.Context(), stale)
	if errors.Is(err, ErrNotLeader) {
		s.forwardStream(w, r)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer arch.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(HeaderIndex, strconv.FormatUint(arch.Index(), 10))
	w.WriteHeader(http.StatusOK)
	// Past the header an error can only cut the stream: the archive's
	// checksum trailer is then missing, and the client refuses it.
	if _, err := arch.WriteTo(w); err != nil {
		s.logger.Warn("streaming a snapshot failed", "error", err)
		panic(http.ErrAbortHandler) // the client must see a broken stream, never a clean end
	}
}

func (s *Server) handleSnapshotRestore(w http.ResponseWriter, r *http.Request) {
	sb, ok := s.snapshotBackend(w)
	if !ok {
		return
	}
	if !s.b.IsLeader() {
		s.forwardStream(w, r)
		return
	}
	force := r.URL.Query().Has("force")
	res, err := sb.SnapshotRestore(r.Context(), r.Body, force)
	if errors.Is(err, ErrNotLeader) && r.Header.Get(ForwardedHeader) == "" {
		writeError(w, http.StatusServiceUnavailable, "%v: leadership moved during the restore; nothing was restored, retry", ErrNotLeader)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// forwardStream proxies a snapshot request to the leader without holding
// its body or answer in memory, and without the forward timeout (a large
// snapshot takes as long as it takes; the client's context bounds it).
func (s *Server) forwardStream(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(ForwardedHeader) != "" {
		writeError(w, http.StatusServiceUnavailable, "leadership changed while the request was being forwarded; retry")
		return
	}
	addr := s.b.LeaderHTTPAddr()
	if addr == "" {
		writeError(w, http.StatusServiceUnavailable, "%v: retry once a leader is elected", ErrNoLeader)
		return
	}
	u := url.URL{Scheme: s.scheme, Host: addr, Path: r.URL.Path, RawQuery: r.URL.RawQuery}
	var body io.Reader = http.NoBody
	if r.Method == http.MethodPut {
		// The transport may go on reading the body after Do returns; the
		// server must not reuse the connection under it (it would parse
		// the rest of the upload as the next request), so the guard ends
		// every read before the handler returns.
		g := &guardedBody{r: r.Body}
		defer g.close()
		body = g
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), body)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "cannot build the request to the leader at %s: %v", addr, err)
		return
	}
	req.ContentLength = r.ContentLength
	if r.Method != http.MethodPut {
		req.ContentLength = 0
	}
	for _, h := range forwardedRequestHeaders {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	req.Header.Set(ForwardedHeader, "1")
	resp, err := s.fwdBlocking.Do(req)
	if err != nil {
		s.forwardFailed(w, r, addr, err)
		return
	}
	defer resp.Body.Close()
	for _, h := range append(forwardedResponseHeaders, "Content-Length") {
		if v := resp.Header[h]; len(v) > 0 {
			w.Header()[h] = v
		}
	}
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(w, resp.Body); err != nil {
		s.logger.Warn("copying the leader's snapshot answer failed", "leader_addr", addr, "error", err)
		panic(http.ErrAbortHandler)
	}
}

func (s *Server) forwardFailed(w http.ResponseWriter, r *http.Request, addr string, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.fail(w, r, err)
		return
	}
	code := http.StatusServiceUnavailable
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		code = http.StatusGatewayTimeout
	}
	s.logger.Warn("forwarding a snapshot request to the leader failed", "leader_addr", addr, "error", err)
	writeError(w, code, "cannot reach the leader at %s: %v", addr, err)
}

// guardedBody passes reads to r until close, which waits for a read in
// progress and makes later ones fail.
type guardedBody struct {
	mu     sync.Mutex
	r      io.Reader
	closed bool
}

func (g *guardedBody) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, errors.New("the request ended")
	}
	return g.r.Read(p)
}

func (g *guardedBody) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}
