//go:build !linux

package proc

import (
	"errors"
	"time"
)

// CPUTime is only measured on Linux.
func CPUTime(int) (time.Duration, error) {
	return 0, errors.New("proc: CPU time is only read on Linux")
}

// CPUTimePrecise is only measured on Linux.
func CPUTimePrecise(int) (time.Duration, error) {
	return 0, errors.New("proc: CPU time is only read on Linux")
}
