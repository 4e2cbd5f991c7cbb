package proc

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RSS is the resident set size of process pid in bytes, read from
// /proc/PID/status (VmRSS); it fails where there is no /proc.
func RSS(pid int) (uint64, error) { return statusBytes(pid, "VmRSS") }

// RSSAnon is the anonymous part of pid's resident set (RssAnon): the memory
// the process itself added. The rest of VmRSS is file pages (its binary,
// shared libraries) that every process running the same binary shares, so
// RSSAnon is what each of many agents on one machine costs.
func RSSAnon(pid int) (uint64, error) { return statusBytes(pid, "RssAnon") }

func statusBytes(pid int, field string) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("proc: %s of %d: %w", field, pid, err)
	}
	defer f.Close()
	return parseStatusKB(f, field)
}

// parseVmRSS finds the "VmRSS:  1234 kB" line of a /proc status file.
func parseVmRSS(f *os.File) (uint64, error) { return parseStatusKB(f, "VmRSS") }

// parseStatusKB finds the "FIELD:  1234 kB" line of a /proc status file.
func parseStatusKB(f *os.File, field string) (uint64, error) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("proc: unexpected %s line %q", field, sc.Text())
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc: %s: %w", field, err)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("proc: no %s in %s", field, f.Name())
}

// PeakRSS samples the RSS of pid every interval until stop is called, which
// returns the largest sample (0 when none could be read).
func PeakRSS(pid int, interval time.Duration) (stop func() uint64) {
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg   sync.WaitGroup
		peak uint64
	)
	sample := func() {
		if v, err := RSS(pid); err == nil && v > peak {
			peak = v
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			sample()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		cancel()
		wg.Wait()
		sample()
		return peak
	}
}
