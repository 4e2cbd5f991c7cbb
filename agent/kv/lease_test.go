package kv

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
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
