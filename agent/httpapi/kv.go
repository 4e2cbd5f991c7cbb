package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// DefaultLeaderWait is how long writes and linearizable reads wait for a
// leader to be elected before answering 503.
const DefaultLeaderWait = 5 * time.Second

// leaderPoll is how often a request waiting for a leader looks again.
const leaderPoll = 50 * time.Millisecond

func (s *Server) kvRoutes() {
	s.mux.HandleFunc("GET /v1/kv/{key...}", s.handleKVGet)
	s.mux.HandleFunc("PUT /v1/kv/{key...}", s.handleKVPut)
	s.mux.HandleFunc("DELETE /v1/kv/{key...}", s.handleKVDelete)
}

// handleKVGet serves GET /v1/kv/{key} and, with an empty key, the prefix
// listing GET /v1/kv/?prefix=P.
func (s *Server) handleKVGet(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	q := r.URL.Query()
	bq, blocking, err := parseBlocking(q, randomSpread)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	read := s.kvRead
	if blocking {
		extendDeadlines(w, bq.Wait)
		read = func(w http.ResponseWriter, r *http.Request, key string, stale bool) error {
			return s.kvBlockingRead(w, r, key, stale, bq)
		}
	}
	stale := q.Has("stale")
	if stale {
		read(w, r, key, true)
		return
	}
	s.onLeader(w, r, nil, func() error { return read(w, r, key, false) })
}

// kvBlockingRead answers one blocking read (see kvRead).
func (s *Server) kvBlockingRead(w http.ResponseWriter, r *http.Request, key string, stale bool, bq BlockingQuery) error {
	if key == "" {
		entries, meta, err := s.b.KVListBlocking(r.Context(), r.URL.Query().Get("prefix"), stale, bq)
		return s.answerList(w, r, entries, meta, err, stale)
	}
	entry, meta, err := s.b.KVGetBlocking(r.Context(), key, stale, bq)
	return s.answerEntry(w, r, entry, meta, err, stale)
}

// kvRead answers one read; with stale it never fails over to the leader.
func (s *Server) kvRead(w http.ResponseWriter, r *http.Request, key string, stale bool) error {
	if key == "" {
		entries, meta, err := s.b.KVList(r.Context(), r.URL.Query().Get("prefix"), stale)
		return s.answerList(w, r, entries, meta, err, stale)
	}
	entry, meta, err := s.b.KVGet(r.Context(), key, stale)
	return s.answerEntry(w, r, entry, meta, err, stale)
}

// answerList answers a prefix listing, or its error (see kvReadError).
func (s *Server) answerList(w http.ResponseWriter, r *http.Request, entries []KVEntry, meta ReadMeta, err error, stale bool) error {
	if err != nil {
		return s.kvReadError(w, r, err, stale)
	}
	if entries == nil {
		entries = []KVEntry{}
	}
	setReadMeta(w, meta)
	writeJSON(w, http.StatusOK, entries)
	return nil
}

// answerEntry answers one key, or its error; a missing key still carries
// the read headers, so a watcher learns the index to wait from.
func (s *Server) answerEntry(w http.ResponseWriter, r *http.Request, entry KVEntry, meta ReadMeta, err error, stale bool) error {
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			setReadMeta(w, meta)
		}
		return s.kvReadError(w, r, err, stale)
	}
	setReadMeta(w, meta)
	writeJSON(w, http.StatusOK, entry)
	return nil
}

// kvReadError hands ErrNotLeader back to onLeader (to forward or wait) and
// answers any other error.
func (s *Server) kvReadError(w http.ResponseWriter, r *http.Request, err error, stale bool) error {
	if errors.Is(err, ErrNotLeader) && !stale {
		return err
	}
	s.fail(w, r, err)
	return nil
}

// Header values shared by every read (see jsonContentType).
var (
	headerTrue  = []string{"true"}
	headerFalse = []string{"false"}
)

// setReadMeta sets the read-freshness headers by their canonical keys (the
// constants above are canonical), sparing Header.Set's work on every read.
func setReadMeta(w http.ResponseWriter, m ReadMeta) {
	h := w.Header()
	h[HeaderIndex] = []string{strconv.FormatUint(m.Index, 10)}
	h[HeaderKnownLeader] = headerFalse
	if m.KnownLeader {
		h[HeaderKnownLeader] = headerTrue
	}
	lc := int64(-1)
	if m.LastContact >= 0 {
		lc = m.LastContact.Milliseconds()
	}
	h[HeaderLastContact] = []string{strconv.FormatInt(lc, 10)}
	if m.Stale {
		h[HeaderStale] = headerTrue
	}
}

func (s *Server) handleKVPut(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	cas, ok := parseCAS(w, r)
	if !ok {
		return
	}
	if key == "" {
		writeError(w, http.StatusBadRequest, "missing key in the path: PUT /v1/kv/{key}")
		return
	}
	lease, ok := parseLeaseQuery(w, r)
	if !ok {
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.onLeader(w, r, body, func() error {
		if lease != 0 {
			res, err := s.b.KVPutLease(r.Context(), key, body, cas, lease)
			return s.kvWriteResult(w, r, res, err)
		}
		res, err := s.b.KVPut(r.Context(), key, body, cas)
		return s.kvWriteResult(w, r, res, err)
	})
}

// parseLeaseQuery reads ?lease=ID (0 when absent); it answers 400 itself
// when the value is bad.
func parseLeaseQuery(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	if r.URL.RawQuery == "" || !r.URL.Query().Has("lease") {
		return 0, true
	}
	id, err := parseLeaseID(r.URL.Query().Get("lease"), "lease")
	if err != nil {
		writeError(w, http.StatusBadRequest, "%s", err.Error())
		return 0, false
	}
	return id, true
}

func (s *Server) handleKVDelete(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	cas, ok := parseCAS(w, r)
	if !ok {
		return
	}
	if key == "" {
		writeError(w, http.StatusBadRequest, "missing key in the path: DELETE /v1/kv/{key}")
		return
	}
	s.onLeader(w, r, nil, func() error {
		res, err := s.b.KVDelete(r.Context(), key, cas)
		return s.kvWriteResult(w, r, res, err)
	})
}

func (s *Server) kvWriteResult(w http.ResponseWriter, r *http.Request, res KVWrite, err error) error {
	if errors.Is(err, ErrNotLeader) {
		return err
	}
	if err != nil {
		s.fail(w, r, err)
		return nil
	}
	writeJSONBytes(w, http.StatusOK, appendKVWrite(make([]byte, 0, 48), res))
	return nil
}

// readBody reads the whole request body. With a Content-Length (which
// every client of this API sends for a value) it reads into one buffer of
// exactly that size, instead of io.ReadAll's growing ones; the server's
// MaxBytesReader has already capped it.
func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength < 0 || r.ContentLength > maxPresizedBody {
		return io.ReadAll(r.Body)
	}
	b := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: body shorter than its Content-Length %d", ErrBadRequest, r.ContentLength)
		}
		return nil, err
	}
	// A body longer than its Content-Length is cut by net/http itself.
	return b, nil
}

// maxPresizedBody bounds the buffer readBody sizes from a client's
// Content-Length; larger bodies (refused later anyway) grow as they come.
const maxPresizedBody = 1 << 20

// parseCAS reads ?cas=INDEX; it answers 400 itself when the value is bad.
func parseCAS(w http.ResponseWriter, r *http.Request) (*uint64, bool) {
	if r.URL.RawQuery == "" {
		return nil, true // the common case: no query to parse
	}
	q := r.URL.Query()
	if !q.Has("cas") {
		return nil, true
	}
	v, err := strconv.ParseUint(q.Get("cas"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "cas must be a modify index (a non-negative integer), got %q", q.Get("cas"))
		return nil, false
	}
	return &v, true
}

// onLeader runs local when this node leads. When another node leads, the
// request (with body, already read) is forwarded to it. When no leader is
// known, it waits up to the leader wait for one, then answers 503: a client
// gets a clear error in bounded time, never a hang. local returns
// ErrNotLeader when leadership moved under it; anything else means it has
// answered.
func (s *Server) onLeader(w http.ResponseWriter, r *http.Request, body []byte, local func() error) {
	deadline := time.Now().Add(s.leaderWait)
	for {
		if s.b.IsLeader() {
			if err := local(); !errors.Is(err, ErrNotLeader) {
				return
			}
		}
		if r.Header.Get(ForwardedHeader) != "" {
			writeError(w, http.StatusServiceUnavailable, "leadership changed while the request was being forwarded; retry")
			return
		}
		if addr := s.b.LeaderHTTPAddr(); addr != "" && !s.b.IsLeader() {
			s.forwardTo(w, r, addr, body)
			return
		}
		if err := waitLeader(r.Context(), deadline); err != nil {
			writeError(w, http.StatusServiceUnavailable, "%v: none elected within %s; retry later (%v)", ErrNoLeader, s.leaderWait, err)
			return
		}
	}
}

func waitLeader(ctx context.Context, deadline time.Time) error {
	if !time.Now().Before(deadline) {
		return fmt.Errorf("waited")
	}
	t := time.NewTimer(leaderPoll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
