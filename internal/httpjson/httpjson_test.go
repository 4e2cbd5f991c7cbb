package httpjson

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte(`{"term": 7}`))
		case "/bad":
			_, _ = w.Write([]byte(`{"term": `))
		default:
			http.Error(w, "no leader", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	var v struct{ Term int }
	if err := Get(ctx, srv.Client(), srv.URL+"/ok", &v); err != nil || v.Term != 7 {
		t.Fatalf("ok: %v, term %d", err, v.Term)
	}
	if err := Get(ctx, srv.Client(), srv.URL+"/bad", &v); err == nil {
		t.Error("truncated JSON accepted")
	}
	err := Get(ctx, srv.Client(), srv.URL+"/down", &v)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "no leader") {
		t.Errorf("503: got %v, want the status and the body", err)
	}
}
