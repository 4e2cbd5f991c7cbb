package kv

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clusteragent/agent/raftnode/command"
)

func grantData(t testing.TB, ttl time.Duration) []byte {
	t.Helper()
	m, err := LeaseGrantMutation(ttl)
	return encode(t, m, err)
}

func revokeData(t testing.TB, id uint64) []byte {
	t.Helper()
	return encode(t, LeaseRevokeMutation(id), nil)
}

func putLeaseData(t testing.TB, key, value string, lease uint64) []byte {
	t.Helper()
	m, err := PutLeaseMutation(key, []byte(value), nil, lease)
	return encode(t, m, err)
}

func TestLeaseLifecycle(t *testing.T) {
	s := NewStore(DefaultLimits())
	mustOK(t, s, 1, grantData(t, 10*time.Second)) // lease 1
	mustOK(t, s, 2, putLeaseData(t, "svc/a", "x", 1))
	mustOK(t, s, 3, putLeaseData(t, "svc/b", "x", 1))
	mustOK(t, s, 4, putData(t, "svc/b", "y", nil)) // a plain put detaches it
	mustOK(t, s, 5, putData(t, "other", "z", nil))
	l, ok := s.View().Lease(1)
	if !ok || l.TTL != 10*time.Second || !reflect.DeepEqual(l.Keys, []string{"svc/a"}) {
		t.Fatalf("lease 1 = %+v %v", l, ok)
	}
	if err := checkStore(s); err != nil {
		t.Fatal(err)
	}
	mustOK(t, s, 6, revokeData(t, 1))
	v := s.View()
	if _, ok := v.Get("svc/a"); ok {
		t.Fatal("svc/a survived its lease")
	}
	if _, ok := v.Get("svc/b"); !ok {
		t.Fatal("the detached svc/b was deleted")
	}
	if got := tombstones(v); !reflect.DeepEqual(got, []string{"svc/a=6"}) {
		t.Fatalf("tombstones %v", got)
	}
	if _, ok := v.Lease(1); ok || len(v.Leases()) != 0 {
		t.Fatal("lease 1 still there")
	}
	if res := apply(s, 7, revokeData(t, 1)); res != (Result{OK: false, Index: 7}) {
		t.Fatalf("second revoke = %#v", res)
	}
	if res := apply(s, 8, putLeaseData(t, "k", "v", 1)); !errors.Is(res.(error), ErrLeaseNotFound) {
		t.Fatalf("put on a revoked lease = %#v", res)
	}
}

func TestLeaseSnapshotRoundTrip(t *testing.T) {
	s := NewStore(DefaultLimits())
	mustOK(t, s, 1, grantData(t, 5*time.Second))
	mustOK(t, s, 2, grantData(t, time.Hour))
	mustOK(t, s, 3, putLeaseData(t, "a", "x", 2))
	mustOK(t, s, 4, putLeaseData(t, "b", "x", 1))
	var buf bytes.Buffer
	if err := writeSnapshot(&buf, s.View().st); err != nil {
		t.Fatal(err)
	}
	again := NewStore(DefaultLimits())
	if err := restoreBytes(again, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{1, 2} {
		a, _ := s.View().Lease(id)
		b, ok := again.View().Lease(id)
		if !ok || !reflect.DeepEqual(a, b) {
			t.Fatalf("lease %d: %+v, restored %+v", id, a, b)
		}
	}
	mustOK(t, again, 5, revokeData(t, 2))
	if _, ok := again.View().Get("a"); ok {
		t.Fatal("revoking a restored lease left its key")
	}
}

// TestLeaseApplyRejects: malformed lease commands and puts naming a lease
// that does not exist are refused and change nothing.
func TestLeaseApplyRejects(t *testing.T) {
	raw := func(typ, payload string) []byte {
		b, err := command.Mutation{Type: typ, Payload: []byte(payload)}.Encode()
		if err != nil {
			t.Fatalf("encode %s %q: %v", typ, payload, err)
		}
		return b
	}
	tests := map[string]struct {
		data []byte
		want error
		msg  string
	}{
		"lease on a delete":   {data: raw(TypeDeleteBin, "\x02\x07\x01a"), want: ErrInvalidCommand, msg: "unknown flags"},
		"lease ID 0":          {data: raw(TypePutBin, "\x02\x00\x01a"), want: ErrInvalidCommand, msg: "bad lease ID"},
		"unknown lease":       {data: raw(TypePutBin, "\x02\x07\x01a"), want: ErrLeaseNotFound, msg: "lease not found: 7"},
		"grant TTL too short": {data: raw(TypeLeaseGrant, "\x01"), want: ErrInvalidCommand, msg: "outside 1s..24h"},
		"grant trailing":      {data: raw(TypeLeaseGrant, "\x80\x94\xeb\xdc\x03\x00"), want: ErrInvalidCommand, msg: "not one uvarint"},
		"revoke ID 0":         {data: raw(TypeLeaseRevoke, "\x00"), want: ErrInvalidCommand, msg: "lease ID 0"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := NewStore(DefaultLimits())
			mustOK(t, s, 1, putData(t, "keep", "1", nil))
			before := s.Hash()
			err, isErr := apply(s, 2, tc.data).(error)
			if !isErr || !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Apply = %v, want an error wrapping %v containing %q", err, tc.want, tc.msg)
			}
			if s.Hash() != before || len(s.View().Leases()) != 0 {
				t.Fatal("a refused command changed the state")
			}
		})
	}
}
