package linearize

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func TestRecorderOutcomes(t *testing.T) {
	t.Parallel()
	r := NewRecorder()
	cas := uint64(0)
	p := r.BeginPut(0, "x", "1", &cas)
	p.Done(WriteResult{OK: true, Index: 3})
	p.Unknown() // ignored: the first outcome wins
	r.BeginGet(1, "x").Failed()
	r.BeginPut(1, "x", "lost", nil).Failed()
	g := r.BeginGet(1, "x")
	g.Done(GetResult{Found: true, Value: "1", CreateIndex: 3, ModifyIndex: 3})
	r.BeginDelete(0, "x", nil).Unknown()
	r.BeginPut(2, "x", "in flight", nil)
	r.BeginGet(3, "x") // in flight: dropped

	ops := r.Operations()
	if len(ops) != 4 {
		t.Fatalf("got %d operations, want 4 (failed and in-flight reads dropped): %+v", len(ops), ops)
	}
	if in := ops[0].Input.(Input); !in.HasCAS || in.CAS != 0 || ops[0].Output != (WriteResult{OK: true, Index: 3}) {
		t.Fatalf("first op %+v", ops[0])
	}
	var last int64
	for _, op := range ops {
		last = max(last, op.Call)
		if op.Input.(Input).Op == OpGet {
			last = max(last, op.Return)
		}
	}
	for _, op := range ops[2:] {
		if op.Output != (WriteResult{Unknown: true}) || op.Return <= last {
			t.Fatalf("unknown write %+v: want unknown output returning after %d", op, last)
		}
	}
	if res, err := Check(ops, 10*time.Second); err != nil {
		t.Fatalf("want linearizable, got %s: %v", res.Verdict, err)
	}
}

// simStore is an in-memory store that follows the contract, sharing one
// log index over all keys; with stale set it serves some reads from an old
// snapshot, the bug the checker must catch.
type simStore struct {
	mu       sync.Mutex
	index    uint64
	data     map[string]GetResult
	snap     map[string]GetResult
	stale    bool
	reads    int
	rng      *rand.Rand
	modifies int
}

func newSimStore(stale bool, seed uint64) *simStore {
	return &simStore{data: map[string]GetResult{}, snap: map[string]GetResult{}, stale: stale, rng: rand.New(rand.NewPCG(seed, 1))}
}

func (s *simStore) get(key string) GetResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if s.stale && s.reads%3 == 0 {
		return s.snap[key]
	}
	return s.data[key]
}

func (s *simStore) write(in Input) WriteResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index += 1 + uint64(s.rng.IntN(3)) // other log entries in between
	cur := s.data[in.Key]
	if in.HasCAS && in.CAS != cur.ModifyIndex {
		return WriteResult{OK: false, Index: s.index}
	}
	switch {
	case in.Op == OpDelete:
		delete(s.data, in.Key)
	case cur.Found:
		s.data[in.Key] = GetResult{Found: true, Value: in.Value, CreateIndex: cur.CreateIndex, ModifyIndex: s.index}
	default:
		s.data[in.Key] = GetResult{Found: true, Value: in.Value, CreateIndex: s.index, ModifyIndex: s.index}
	}
	if s.modifies++; s.modifies%40 == 0 {
		s.snap = make(map[string]GetResult, len(s.data))
		for k, v := range s.data {
			s.snap[k] = v
		}
	}
	return WriteResult{OK: true, Index: s.index}
}

// runClients drives clients*perClient random operations over keys through
// a Recorder, including writes whose answer is lost (applied or not) and
// reads and writes that fail before reaching the store.
func runClients(store *simStore, clients, perClient, keys int) []porcupine.Operation {
	rec := NewRecorder()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			seen := map[string]uint64{}
			for i := 0; i < perClient; i++ {
				key := fmt.Sprintf("k%d", rng.IntN(keys))
				clientOp(store, rec, rng, c, key, fmt.Sprintf("c%d-%d", c, i), seen)
			}
		}()
	}
	wg.Wait()
	return rec.Operations()
}

func clientOp(store *simStore, rec *Recorder, rng *rand.Rand, c int, key, value string, seen map[string]uint64) {
	roll := rng.IntN(100)
	if roll < 45 {
		p := rec.BeginGet(c, key)
		if roll < 2 {
			p.Failed()
			return
		}
		res := store.get(key)
		seen[key] = res.ModifyIndex
		p.Done(res)
		return
	}
	var cas *uint64
	if rng.IntN(3) == 0 {
		v := seen[key]
		cas = &v
	}
	var p *PendingWrite
	in := Input{Op: OpPut, Key: key, Value: value}
	if roll < 60 {
		in = Input{Op: OpDelete, Key: key}
		p = rec.BeginDelete(c, key, cas)
	} else {
		p = rec.BeginPut(c, key, value, cas)
	}
	if cas != nil {
		in.HasCAS, in.CAS = true, *cas
	}
	switch fate := rng.IntN(100); {
	case fate < 2: // refused before sending
		p.Failed()
	case fate < 4: // sent, answer lost after it applied
		store.write(in)
		p.Unknown()
	case fate < 6: // sent, lost before it applied
		p.Unknown()
	default:
		p.Done(store.write(in))
	}
}

func TestRandomHistoryOfCorrectStoreIsLinearizable(t *testing.T) {
	t.Parallel()
	ops := runClients(newSimStore(false, 1), 8, 125, 8)
	res, err := Check(ops, time.Minute)
	if err != nil {
		if rerr := res.WriteReport(t.TempDir()); rerr != nil {
			t.Log(rerr)
		}
		t.Fatalf("correct store: %s on %d ops: %v", res.Verdict, len(ops), err)
	}
	t.Logf("%d operations checked in %s", len(ops), res.Duration)
}

func TestRandomHistoryWithStaleReadsIsIllegal(t *testing.T) {
	t.Parallel()
	ops := runClients(newSimStore(true, 2), 8, 125, 8)
	res, err := Check(ops, time.Minute)
	if !errors.Is(err, ErrNotLinearizable) {
		t.Fatalf("stale reads: want %v, got verdict %s, error %v", ErrNotLinearizable, res.Verdict, err)
	}
	t.Logf("%d operations refuted in %s", len(ops), res.Duration)
}
