// Package baseline measures what this machine itself costs, as the yardstick
// for the agent's single-client write latency: one small append made
// durable with fdatasync, and one round trip over a kept-alive loopback TCP
// connection. A replicated write needs at least the leader's and a
// follower's log append made durable and a round trip between them, so two
// fsyncs plus a round trip is a floor no replicated store beats on the same
// disk and loopback. It uses only the standard library.
package baseline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"time"
)

// warmup operations run before measuring: the first append pays for the
// file's creation, the first round trips for slow start and cold caches.
const warmup = 10

// Sample summarises n timed operations.
type Sample struct {
	N      int           `json:"n"`
	Median time.Duration `json:"median_ns"`
	P99    time.Duration `json:"p99_ns"`
	Max    time.Duration `json:"max_ns"`
}

// summarise sorts d in place and summarises it; d must not be empty. The
// median and p99 are nearest-rank, like the load's percentiles.
func summarise(d []time.Duration) Sample {
	slices.Sort(d)
	rank := func(p float64) time.Duration {
		r := int(float64(len(d))*p/100+0.999999999) - 1
		return d[max(0, min(r, len(d)-1))]
	}
	return Sample{N: len(d), Median: rank(50), P99: rank(99), Max: d[len(d)-1]}
}

// Fsync appends size bytes to a new file in dir and makes them durable with
// fdatasync (fsync where there is none), n times, and summarises the time
// each append took, write and sync together. The file is removed again.
// dir should be on the filesystem whose cost is wanted: the one holding
// the agents' data dirs.
func Fsync(ctx context.Context, dir string, n, size int) (_ Sample, err error) {
	if n < 1 || size < 1 {
		return Sample{}, fmt.Errorf("baseline: fsync: need n and size >= 1, got %d and %d", n, size)
	}
	f, err := os.CreateTemp(dir, "fsync-baseline-")
	if err != nil {
		return Sample{}, fmt.Errorf("baseline: %w", err)
	}
	defer func() {
		err = errors.Join(err, f.Close(), os.Remove(f.Name()))
	}()
	sync := datasync(f)
	rec := make([]byte, size)
	for i := range rec {
		rec[i] = byte('a' + i%26)
	}
	times := make([]time.Duration, 0, n)
	for i := -warmup; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return Sample{}, err
		}
		t0 := time.Now()
		if _, err := f.Write(rec); err != nil {
			return Sample{}, fmt.Errorf("baseline: append: %w", err)
		}
		if err := sync(); err != nil {
			return Sample{}, fmt.Errorf("baseline: sync: %w", err)
		}
		if i >= 0 {
			times = append(times, time.Since(t0))
		}
	}
	return summarise(times), nil
}

// LoopbackRTT sends size bytes over one kept-alive TCP connection on
// 127.0.0.1 to an echo server in this process and waits for them to come
// back, n times, and summarises the round trips.
func LoopbackRTT(ctx context.Context, n, size int) (_ Sample, err error) {
	if n < 1 || size < 1 {
		return Sample{}, fmt.Errorf("baseline: rtt: need n and size >= 1, got %d and %d", n, size)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Sample{}, fmt.Errorf("baseline: %w", err)
	}
	echoed := make(chan error, 1)
	go func() { echoed <- echo(ln, size) }()
	defer func() {
		// Closing the listener ends an Accept that never got its dial;
		// the echo ends when the client's connection closes.
		err = errors.Join(err, ln.Close(), <-echoed)
	}()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return Sample{}, fmt.Errorf("baseline: %w", err)
	}
	defer conn.Close()
	// A cancelled ctx unblocks a read or write in progress.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	out, back := make([]byte, size), make([]byte, size)
	for i := range out {
		out[i] = byte('a' + i%26)
	}
	times := make([]time.Duration, 0, n)
	for i := -warmup; i < n; i++ {
		t0 := time.Now()
		if _, err := conn.Write(out); err != nil {
			return Sample{}, fmt.Errorf("baseline: rtt write: %w", errors.Join(err, ctx.Err()))
		}
		if _, err := io.ReadFull(conn, back); err != nil {
			return Sample{}, fmt.Errorf("baseline: rtt read: %w", errors.Join(err, ctx.Err()))
		}
		if i >= 0 {
			times = append(times, time.Since(t0))
		}
	}
	return summarise(times), nil
}

// echo serves one connection from ln, writing back every message of size
// bytes once it has all of it, until the client closes.
func echo(ln net.Listener, size int) error {
	conn, err := ln.Accept()
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		return fmt.Errorf("baseline: echo: %w", err)
	}
	defer conn.Close()
	buf := make([]byte, size)
	for {
		if _, err := io.ReadFull(conn, buf); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("baseline: echo: %w", err)
		}
		if _, err := conn.Write(buf); err != nil {
			return fmt.Errorf("baseline: echo: %w", err)
		}
	}
}
