package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// clockTick is the kernel's USER_HZ, the unit of /proc/PID/stat's times:
// 100 on every Linux platform Go supports.
const clockTick = 100

// maxTicks bounds a field so that the sum converts without overflow.
const maxTicks = 1 << 40

// CPUTime is the CPU time (user and system) process pid has used so far.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime, fields 14 and 15 of /proc/PID/stat;
// the command name (field 2) may hold spaces, so fields are counted after
// its closing parenthesis.
func parseStatCPU(s string) (time.Duration, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc: /proc stat without a command name: %.40q", s)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("proc: /proc stat has %d fields after the name, want at least 13", len(f))
	}
	var ticks int64
	for _, x := range f[11:13] {
		v, err := strconv.ParseInt(x, 10, 64)
		if err != nil || v < 0 || v > maxTicks {
			return 0, fmt.Errorf("proc: /proc stat CPU field %q: not a tick count", x)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTick, nil
}

// CPUTimePrecise is the CPU time process pid has used so far, in
// nanoseconds from the scheduler (the process's CPU clock, as
// clock_getcpuclockid gives it), where CPUTime counts 10 ms ticks: an idle
// agent uses a few milliseconds a second, which ticks over 10 s read only
// to the nearest millisecond per second.
func CPUTimePrecise(pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, fmt.Errorf("proc: CPU clock of pid %d: not a process", pid)
	}
	// The kernel's encoding of another process's CPU clock: the pid's
	// complement shifted by three, and 2 for the scheduler's clock.
	clockID := int32(^uint32(pid)<<3 | 2)
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(clockID), uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0, fmt.Errorf("proc: CPU clock of pid %d: %w", pid, errno)
	}
	return time.Duration(ts.Nano()), nil
}
