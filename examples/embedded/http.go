package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/clusteragent/agent/raftnode"
)

// maxValueBytes bounds a register value sent over HTTP.
const maxValueBytes = 64 << 10

// serve answers GET /r/{name} (?stale for a local read) and PUT /r/{name}
// (the body is the value; ?cas=OLD makes it a compare-and-set) on addr.
func (a *app) serve(addr string) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /r/{name}", a.handleGet)
	mux.HandleFunc("PUT /r/{name}", a.handlePut)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

func (a *app) handleGet(w http.ResponseWriter, r *http.Request) {
	v, ok, err := a.Get(r.Context(), r.PathValue("name"), r.URL.Query().Has("stale"))
	switch {
	case err != nil:
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	case !ok:
		http.Error(w, fmt.Sprintf("register %q is not set", r.PathValue("name")), http.StatusNotFound)
	default:
		_, _ = io.WriteString(w, v)
	}
}

func (a *app) handlePut(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxValueBytes))
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	name := r.PathValue("name")
	if r.URL.Query().Has("cas") {
		err = a.CAS(r.Context(), name, r.URL.Query().Get("cas"), string(body))
	} else {
		err = a.Set(r.Context(), name, string(body))
	}
	switch {
	case errors.Is(err, errInvalid):
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.Is(err, raftnode.ErrFSM):
		http.Error(w, err.Error(), http.StatusConflict)
	case err != nil:
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
