//go:build chaos_bite_stalereads

package agent

import (
	"net/http"
	"strings"

	"github.com/clusteragent/agent/agent/httpapi"
)

// biteStaleReads deliberately breaks linearizable reads, so that the
// fault-injection suite can prove its linearizability checker catches a
// stale read. It exists only in binaries built with the
// chaos_bite_stalereads tag; never build a production agent with it.
//
// Every default KV read (GET /v1/kv/{key} and GET /v1/kv/?prefix= without
// ?stale) is served exactly as a ?stale read is, from the local store of
// whichever node receives it, with no leader check, forwarding, barrier or
// wait for the applied index, and the answer drops X-Agent-Stale, so it
// still claims to be linearizable.
func biteStaleReads(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method != http.MethodGet && r.Method != http.MethodHead) ||
			!strings.HasPrefix(r.URL.Path, "/v1/kv/") || r.URL.Query().Has("stale") {
			h.ServeHTTP(w, r)
			return
		}
		r2 := r.Clone(r.Context())
		if r2.URL.RawQuery == "" {
			r2.URL.RawQuery = "stale"
		} else {
			r2.URL.RawQuery += "&stale"
		}
		h.ServeHTTP(&unmarkStale{ResponseWriter: w}, r2)
	})
}

// unmarkStale removes the stale marker just before the header goes out.
type unmarkStale struct {
	http.ResponseWriter
	wroteHeader bool
}

func (u *unmarkStale) WriteHeader(code int) {
	if !u.wroteHeader {
		u.wroteHeader = true
		u.Header().Del(httpapi.HeaderStale)
	}
	u.ResponseWriter.WriteHeader(code)
}

func (u *unmarkStale) Write(b []byte) (int, error) {
	if !u.wroteHeader {
		u.WriteHeader(http.StatusOK)
	}
	return u.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (u *unmarkStale) Unwrap() http.ResponseWriter { return u.ResponseWriter }
