package kv

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind (readers of
// TestConcurrentReads, a Persist, a benchmark's heap sampler).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
