package httpapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// knownMethods bounds the method label: anything else counts as OTHER, so a
// client sending random methods cannot grow the metric without limit.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
	http.MethodConnect: true, http.MethodTrace: true,
}

func requestCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_requests_total",
		Help: "HTTP API requests by status code and method.",
	}, []string{"code", "method"})
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
		// A conflicting collector of another shape: count locally rather than
		// refuse to serve the API over a metric.
		return c
	}
	return c
}

// requestKey names one child of http_requests_total.
type requestKey struct {
	method string
	code   int
}

// countRequest increments the request's counter. The children are cached
// by method and code: looking them up by label values hashes the labels
// and formats the code on every request.
func (s *Server) countRequest(method string, code int) {
	if !knownMethods[method] {
		method = "OTHER"
	}
	k := requestKey{method, code}
	if c, ok := s.requestCounters.Load(k); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	c := s.requests.WithLabelValues(strconv.Itoa(code), method)
	s.requestCounters.Store(k, c)
	c.Inc()
}

// statusWriter remembers the status code a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
