package testutil

import (
	"strings"
	"sync"
	"testing"
)

// LogWriter sends what is written to t.Log, a line per write, until the
// test ends. Lines written after that, by goroutines still winding down
// (memberlist's probes, raft's transport), are dropped: t.Log would panic
// on them. Register it before what logs into it, so that its cleanup runs
// after theirs and their shutdown logs are still shown.
func LogWriter(t testing.TB) *TestLogWriter {
	w := &TestLogWriter{t: t}
	t.Cleanup(w.Close)
	return w
}

// TestLogWriter is LogWriter's writer.
type TestLogWriter struct {
	t      testing.TB
	mu     sync.Mutex
	closed bool
}

// Write logs p unless the writer is closed.
func (w *TestLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// Close stops the writer; later writes are dropped.
func (w *TestLogWriter) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
}
