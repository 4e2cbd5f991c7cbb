package load

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Plan is what both sides of a comparison run: every operation at every
// client count, for the same time, with values of the same size.
type Plan struct {
	Clients   []int         `json:"clients"`
	Warmup    time.Duration `json:"warmup_ns"`
	Duration  time.Duration `json:"duration_ns"`
	ValueSize int           `json:"value_size"`
}

// ParseClients reads a comma-separated list of positive client counts.
func ParseClients(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("load: bad client count %q in %q", f, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// Value is a value of n bytes, the same every run so both sides store the
// same thing.
func Value(n int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[i%len(alphabet)]
	}
	return b
}

// PutKey is the key worker writes at seq: each worker cycles through its
// own 1024 keys, so the key space stays bounded however long the run.
func PutKey(worker, seq int) string {
	return fmt.Sprintf("bench-put-%d-%d", worker, seq%1024)
}

// GetKeys is how many keys the read load reads, written beforehand by
// whoever runs it.
const GetKeys = 256

// GetKey is the key worker reads at seq, one of GetKeys.
func GetKey(worker, seq int) string {
	return fmt.Sprintf("bench-get-%d", (worker*31+seq)%GetKeys)
}

// Level is one operation at one client count.
type Level struct {
	Name    string
	Clients int
}

// Levels are the plan's levels for the named operations, operation by
// operation, clients ascending as given.
func (p Plan) Levels(names ...string) []Level {
	var out []Level
	for _, n := range names {
		for _, c := range p.Clients {
			out = append(out, Level{Name: n, Clients: c})
		}
	}
	return out
}

// RunLevel runs one level of the plan with newOp.
func (p Plan) RunLevel(ctx context.Context, l Level, newOp func(worker int) (Op, error)) (Result, error) {
	return Run(ctx, Config{Name: l.Name, Clients: l.Clients, Warmup: p.Warmup, Duration: p.Duration, NewOp: newOp})
}
