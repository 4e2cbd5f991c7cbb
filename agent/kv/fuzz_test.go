package kv

import (
	"bytes"
	"errors"
	"testing"

	"github.com/clusteragent/agent/raftnode"
)

// FuzzApply feeds arbitrary log entries (one per line of the input) to a
// store: Apply must never panic, must answer a Result or a known error,
// must change nothing when it answers an error, and the state must keep
// its invariants and survive a snapshot round trip.
func FuzzApply(f *testing.F) {
	seeds := [][]byte{
		putData(f, "a", "x", nil),
		putData(f, "a/b", "", ptr(0)),
		deleteData(f, "a", ptr(3)),
		[]byte(`{"type":"kv.put","payload":{"key":"a//b","value":"eA=="}}`),
		[]byte(`{"type":"kv.put","payload":{"key":"k","cas":18446744073709551615}}`),
		[]byte(`{"type":"kv.delete","payload":{"key":"k","extra":1}}`),
		[]byte(`{"type":"kv.nope"}`),
		[]byte(`{"type":"kv.put","payload":"x"}`),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add(bytes.Join(seeds[:3], []byte("\n")))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewStore(Limits{MaxKeyBytes: 32, MaxValueBytes: 64})
		for i, entry := range bytes.Split(data, []byte("\n")) {
			index := uint64(i + 1)
			before := s.Hash()
			switch res := apply(s, index, entry).(type) {
			case Result:
				if res.Index != index {
					t.Fatalf("entry %d: Result.Index = %d", index, res.Index)
				}
				if !res.OK && s.Hash() != before {
					t.Fatalf("entry %d: a failed compare changed the data", index)
				}
			case error:
				if !knownApplyError(res) {
					t.Fatalf("entry %d: unexpected error %v", index, res)
				}
				if s.Hash() != before {
					t.Fatalf("entry %d: refused (%v) but changed the data", index, res)
				}
			default:
				t.Fatalf("entry %d: Apply returned %T", index, res)
			}
			if s.AppliedIndex() != index {
				t.Fatalf("entry %d: AppliedIndex = %d", index, s.AppliedIndex())
			}
		}
		if err := checkStore(s); err != nil {
			t.Fatal(err)
		}
		for _, e := range s.List("") {
			if err := ValidateKey(e.Key, s.Limits()); err != nil {
				t.Fatalf("stored key breaks the store's limits: %v", err)
			}
		}
	})
}

func knownApplyError(err error) bool {
	for _, want := range []error{raftnode.ErrInvalidMutation, raftnode.ErrUnknownMutation,
		ErrInvalidCommand, ErrInvalidKey, ErrValueTooLarge} {
		if errors.Is(err, want) {
			return true
		}
	}
	return false
}
