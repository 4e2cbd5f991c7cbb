package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
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
