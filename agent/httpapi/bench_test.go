package httpapi

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// putOnlyBackend answers every put at once, so the benchmark measures the
// HTTP layer alone.
type putOnlyBackend struct{ fakeBackend }

func (*putOnlyBackend) KVPut(context.Context, string, []byte, *uint64) (KVWrite, error) {
	return KVWrite{OK: true, Index: 123456}, nil
}

// BenchmarkKVPutHandler is the server's own cost of one PUT /v1/kv: routing,
// the token check, reading the body, the answer and the request counter.
func BenchmarkKVPutHandler(b *testing.B) {
	srv := New(&putOnlyBackend{fakeBackend{leader: true}}, Config{Token: "t"})
	value := bytes.Repeat([]byte("v"), 256)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPut, "/v1/kv/bench-put-3-17", bytes.NewReader(value))
		req.Header.Set("Authorization", "Bearer t")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
