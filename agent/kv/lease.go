package kv

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/clusteragent/agent/raftnode/command"
)

// Leases.
//
// A lease is a TTL and a set of keys. The state machine only records
// leases and which keys hang on them; it never decides that one expired,
// because apply has no clock. The leader decides that (agent/leases.go)
// and commits the expiry as a revoke. A lease's ID is the log index of its
// grant: unique, the same on every replica, never reused.
const (
	// TypeLeaseGrant creates a lease; binary payload: the TTL in
	// nanoseconds as a uvarint. LeaseGrantMutation builds it.
	TypeLeaseGrant = "kv.lease.grant"
	// TypeLeaseRevoke removes a lease and deletes its keys (leaving
	// tombstones at the revoke's index); binary payload: the ID as a
	// uvarint. It serves both a client's revoke and the leader's expiry.
	TypeLeaseRevoke = "kv.lease.revoke"
)

// Bounds of a lease's TTL.
const (
	// MinLeaseTTL is the shortest TTL: shorter ones would expire before a
	// client could renew them across one leader election.
	MinLeaseTTL = time.Second
	// MaxLeaseTTL is the longest TTL.
	MaxLeaseTTL = 24 * time.Hour
)

// lease is a lease as the state machine stores it; never changed once in
// a tree.
type lease struct {
	ttl time.Duration
}

// Lease is a lease as readers see it.
type Lease struct {
	// ID is the log index of its grant.
	ID uint64
	// TTL is its time to live after each renew.
	TTL time.Duration
	// Keys are the keys attached to it, sorted (only from View.Lease).
	Keys []string
}

// leaseKey is the tree key of lease id: big-endian, so leases sort by ID
// and leaseKey(id)+key groups a lease's keys under one prefix.
func leaseKey(id uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), id) }

// ValidateLeaseTTL checks ttl against MinLeaseTTL and MaxLeaseTTL.
func ValidateLeaseTTL(ttl time.Duration) error {
	if ttl < MinLeaseTTL || ttl > MaxLeaseTTL {
		return fmt.Errorf("%w: lease TTL %s is outside %s..%s", ErrInvalidCommand, ttl, MinLeaseTTL, MaxLeaseTTL)
	}
	return nil
}

// LeaseGrantMutation builds the command granting a lease of ttl.
func LeaseGrantMutation(ttl time.Duration) (command.Mutation, error) {
	if err := ValidateLeaseTTL(ttl); err != nil {
		return command.Mutation{}, err
	}
	return command.Mutation{Type: TypeLeaseGrant, Payload: binary.AppendUvarint(nil, uint64(ttl))}, nil
}

// LeaseRevokeMutation builds the command revoking lease id.
func LeaseRevokeMutation(id uint64) command.Mutation {
	return command.Mutation{Type: TypeLeaseRevoke, Payload: binary.AppendUvarint(nil, id)}
}

// decodeUvarintPayload decodes a payload that is exactly one uvarint.
func decodeUvarintPayload(payload []byte, what string) (uint64, error) {
	v, n := binary.Uvarint(payload)
	if n <= 0 || n != len(payload) {
		return 0, fmt.Errorf("%w: %s payload is not one uvarint", ErrInvalidCommand, what)
	}
	return v, nil
}

// decodeLeaseGrant decodes and checks a TypeLeaseGrant payload.
func decodeLeaseGrant(payload []byte) (time.Duration, error) {
	v, err := decodeUvarintPayload(payload, "lease grant")
	if err != nil {
		return 0, err
	}
	if v > uint64(MaxLeaseTTL) {
		return 0, fmt.Errorf("%w: lease TTL %d ns above %s", ErrInvalidCommand, v, MaxLeaseTTL)
	}
	ttl := time.Duration(v)
	return ttl, ValidateLeaseTTL(ttl)
}

// decodeLeaseRevoke decodes a TypeLeaseRevoke payload.
func decodeLeaseRevoke(payload []byte) (uint64, error) {
	id, err := decodeUvarintPayload(payload, "lease revoke")
	if err == nil && id == 0 {
		err = fmt.Errorf("%w: lease ID 0", ErrInvalidCommand)
	}
	return id, err
}

// handleLeases registers the lease commands on s's mux.
func (s *Store) handleLeases() {
	s.mux.Handle(TypeLeaseGrant, func(index uint64, payload json.RawMessage) any {
		ttl, err := decodeLeaseGrant(payload)
		if err != nil {
			return fmt.Errorf("entry %d: %w", index, err)
		}
		s.w.leases.Insert(leaseKey(index), &lease{ttl: ttl})
		return Result{OK: true, Index: index}
	})
	s.mux.Handle(TypeLeaseRevoke, func(index uint64, payload json.RawMessage) any {
		id, err := decodeLeaseRevoke(payload)
		if err != nil {
			return fmt.Errorf("entry %d: %w", index, err)
		}
		return Result{OK: s.revoke(index, id), Index: index}
	})
}

// revoke removes lease id and deletes its keys at index; false when there
// is no such lease.
func (s *Store) revoke(index, id uint64) bool {
	lk := leaseKey(id)
	if _, ok := s.w.leases.Delete(lk); !ok {
		return false
	}
	var attached [][]byte
	s.w.leaseKeys.Root().WalkPrefix(lk, func(k []byte, _ any) bool {
		attached = append(attached, k)
		return false
	})
	for _, k := range attached {
		s.w.leaseKeys.Delete(k)
		key := k[len(lk):]
		s.w.data.Delete(key)
		s.w.addTomb(key, index, s.limits.tombstoneCap())
	}
	return true
}

// hasLease reports whether lease id exists in the transaction.
func (w *writeTxn) hasLease(id uint64) bool {
	_, ok := w.leases.Get(leaseKey(id))
	return ok
}

// moveLeaseKey detaches key from lease from and attaches it to lease to
// (0: none).
func (w *writeTxn) moveLeaseKey(key []byte, from, to uint64) {
	if from == to {
		return
	}
	if from != 0 {
		w.leaseKeys.Delete(append(leaseKey(from), key...))
	}
	if to != 0 {
		w.leaseKeys.Insert(append(leaseKey(to), key...), nil)
	}
}

// Leases returns every lease, by ID, without their keys.
func (v View) Leases() []Lease {
	var out []Lease
	v.st.leases.Root().Walk(func(k []byte, val any) bool {
		out = append(out, Lease{ID: binary.BigEndian.Uint64(k), TTL: val.(*lease).ttl})
		return false
	})
	return out
}

// Lease returns lease id with its keys, and whether it exists.
func (v View) Lease(id uint64) (Lease, bool) {
	lk := leaseKey(id)
	val, ok := v.st.leases.Get(lk)
	if !ok {
		return Lease{}, false
	}
	l := Lease{ID: id, TTL: val.(*lease).ttl, Keys: []string{}}
	v.st.leaseKeys.Root().WalkPrefix(lk, func(k []byte, _ any) bool {
		l.Keys = append(l.Keys, string(k[len(lk):]))
		return false
	})
	return l, true
}

// NeedsLeases reports whether m is a command only a version with leases
// can apply: a lease grant or revoke, or a put attached to a lease. A
// version without leases refuses them, so a leader must not propose them
// while such a version is among the servers (the agent's feature gate).
func NeedsLeases(m command.Mutation) bool {
	switch m.Type {
	case TypeLeaseGrant, TypeLeaseRevoke:
		return true
	case TypePutBin:
		return len(m.Payload) > 0 && m.Payload[0]&flagLease != 0
	}
	return false
}
