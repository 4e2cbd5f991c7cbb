package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/clusteragent/agent/raftnode/command"
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
		grantData(f, 2*time.Second),
		putLeaseData(f, "l", "v", 1),
		revokeData(f, 1),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add(bytes.Join(seeds[:3], []byte("\n")))
	f.Add(bytes.Join(seeds[len(seeds)-3:], []byte("\n")))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewStore(Limits{MaxKeyBytes: 32, MaxValueBytes: 64})
		for i, entry := range bytes.Split(data, []byte("\n")) {
			index := uint64(i + 1)
			before := s.Hash()
			res, stopped := applyOrStop(s, index, entry)
			if stopped {
				if s.Hash() != before || s.AppliedIndex() != index-1 {
					t.Fatalf("entry %d: an unknown command changed the state before stopping", index)
				}
				return
			}
			switch res := res.(type) {
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

// applyOrStop applies entry, and reports whether Apply stopped on it with
// an *UnknownCommandError, the one panic it may raise.
func applyOrStop(s *Store, index uint64, entry []byte) (res any, stopped bool) {
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(*UnknownCommandError); !ok {
				panic(p)
			}
			stopped = true
		}
	}()
	return apply(s, index, entry), false
}

func knownApplyError(err error) bool {
	for _, want := range []error{command.ErrInvalidMutation,
		ErrInvalidCommand, ErrInvalidKey, ErrValueTooLarge, ErrLeaseNotFound} {
		if errors.Is(err, want) {
			return true
		}
	}
	return false
}

// FuzzDecodeCommands feeds arbitrary payloads to the binary decoders:
// they never panic, and what they accept encodes to a payload that decodes
// to the same command again. (Varints may come non-minimal, as
// encoding/binary accepts them, so the bytes themselves need not match;
// every replica reads them alike, which is what determinism needs.)
func FuzzDecodeCommands(f *testing.F) {
	f.Add([]byte{0x03, 0x05, 0x07, 0x01, 'a', 'v'})
	f.Add([]byte{0x02, 0x00, 0x01, 'a'})
	f.Add(binary.AppendUvarint(nil, uint64(time.Minute)))
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, isDelete := range []bool{false, true} {
			c, err := decodeCommand(payload, isDelete, ceilingLimits)
			if err != nil {
				continue
			}
			again, err := decodeCommand(encodeCommand(c.Key, c.Value, c.CAS, c.Lease), isDelete, ceilingLimits)
			if err != nil || !reflect.DeepEqual(again, c) {
				t.Fatalf("decoded %+v from %x; re-encoded it decodes to %+v, %v", c, payload, again, err)
			}
		}
		if ttl, err := decodeLeaseGrant(payload); err == nil && ValidateLeaseTTL(ttl) != nil {
			t.Fatalf("grant %x decoded to the invalid TTL %s", payload, ttl)
		}
		if id, err := decodeLeaseRevoke(payload); err == nil {
			if again, err := decodeLeaseRevoke(LeaseRevokeMutation(id).Payload); id == 0 || err != nil || again != id {
				t.Fatalf("revoke %x decoded to %d, re-encoded to %d, %v", payload, id, again, err)
			}
		}
	})
}
