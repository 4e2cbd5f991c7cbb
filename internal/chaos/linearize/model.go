package linearize

import (
	"fmt"
	"hash/fnv"
	"strconv"

	"github.com/anishathalye/porcupine"
)

// OpKind names a KV operation.
type OpKind string

// The operations of the KV store that the model knows.
const (
	OpGet    OpKind = "get"
	OpPut    OpKind = "put"
	OpDelete OpKind = "delete"
)

// Input is the porcupine input of one KV operation.
type Input struct {
	Op  OpKind `json:"op"`
	Key string `json:"key"`
	// Value is the value a put writes; empty for get and delete.
	Value string `json:"value,omitempty"`
	// HasCAS says the write carried ?cas=CAS; CAS 0 means "only if absent".
	HasCAS bool   `json:"has_cas,omitempty"`
	CAS    uint64 `json:"cas,omitempty"`
	// Lease is the lease a put attaches the key to (?lease=ID); "" for none.
	Lease string `json:"lease,omitempty"`
}

// GetResult is what a completed GET /v1/kv/{key} answered: 200 with the
// entry, or 404 (Found false).
type GetResult struct {
	Found       bool   `json:"found"`
	Value       string `json:"value,omitempty"`
	CreateIndex uint64 `json:"create_index,omitempty"`
	ModifyIndex uint64 `json:"modify_index,omitempty"`
}

// WriteResult is what a PUT or DELETE answered ({"ok","index"}), or, with
// Unknown set, that the client cannot tell whether the write was applied.
type WriteResult struct {
	Unknown bool   `json:"unknown,omitempty"`
	OK      bool   `json:"ok"`
	Index   uint64 `json:"index"`
}

// KeyState is the model's state of one key. An index of 0 on a present key
// means "not known": the key was last written by a write whose answer was
// lost, so only a lower bound (Floor) is known until a read reveals it.
type KeyState struct {
	Present     bool
	Value       string
	CreateIndex uint64
	ModifyIndex uint64
	// Floor is the highest log index of a write to this key linearized so
	// far (successful or a failed compare). Log indexes are shared by all
	// keys, so they are not consecutive per key; but Raft orders every
	// write to one key by its index, so a later write must have a larger
	// one. A failed compare counts because it too was applied at its index.
	Floor uint64
	// ModifyAbove and ModifyBelow bound an unknown ModifyIndex: it is
	// above the Floor when the lost write was applied, and below the first
	// acknowledged index linearized after it (0: none yet). Both are 0
	// while ModifyIndex is known.
	ModifyAbove uint64
	ModifyBelow uint64
	// Lease is the lease the present value is attached to ("" for none).
	// The leader deletes such a key through the log when the lease
	// expires or is revoked, at a moment no client observes: the model
	// lets it vanish before any operation (see step), and only then.
	Lease string
	// DeadLease is a lease this key was seen to lose its value to. A lease
	// never comes back: a put attached to it cannot succeed afterwards.
	DeadLease string
}

// modifyMayBe reports whether an unknown modify index may be m.
func (s KeyState) modifyMayBe(m uint64) bool {
	return m > s.ModifyAbove && (s.ModifyBelow == 0 || m < s.ModifyBelow)
}

// Model returns the porcupine model of the store as README.md#http-api defines it,
// partitioned by key. Every key starts absent: histories must use keys
// nothing else has written.
func Model() porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Partition: partitionByKey,
		Init:      func() []interface{} { return []interface{}{KeyState{}} },
		Step: func(state, input, output interface{}) []interface{} {
			return step(state.(KeyState), input.(Input), output)
		},
		Equal:             func(a, b interface{}) bool { return a.(KeyState) == b.(KeyState) },
		Hash:              hashState,
		DescribeOperation: describeOperation,
		DescribeState:     describeState,
	}
	return nm.ToModel()
}

// partitionByKey splits a history into one per key: operations on
// different keys never constrain each other, and small partitions keep
// the search tractable.
func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string]int{}
	var out [][]porcupine.Operation
	for _, op := range history {
		k := op.Input.(Input).Key
		i, ok := byKey[k]
		if !ok {
			i = len(out)
			byKey[k] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], op)
	}
	return out
}

// step returns every state the key may be in after the operation, or none
// when the operation cannot have returned its output from s. A key on a
// lease may have been deleted by the lease's end just before the
// operation: both fates are followed.
func step(s KeyState, in Input, output interface{}) []interface{} {
	out := stepOne(s, in, output)
	if s.Present && s.Lease != "" {
		out = append(out, stepOne(expired(s), in, output)...)
	}
	return out
}

// expired is s after its lease ended: the key is gone, deleted at some log
// index above Floor that no client learns, and its lease is dead.
func expired(s KeyState) KeyState {
	return KeyState{Floor: s.Floor, DeadLease: s.Lease}
}

// stepOne is step without the lease's end.
func stepOne(s KeyState, in Input, output interface{}) []interface{} {
	switch in.Op {
	case OpGet:
		if next, ok := stepGet(s, output.(GetResult)); ok {
			return []interface{}{next}
		}
		return nil
	case OpPut, OpDelete:
		out := output.(WriteResult)
		if out.Unknown {
			return stepUnknownWrite(s, in)
		}
		if next, ok := stepWrite(s, in, out); ok {
			return []interface{}{next}
		}
		return nil
	}
	return nil
}

// stepGet checks a read against s. A read may also reveal an index that a
// lost-answer write left unknown; the returned state then records it.
func stepGet(s KeyState, out GetResult) (KeyState, bool) {
	if !out.Found {
		return s, !s.Present
	}
	if !s.Present || s.Value != out.Value {
		return s, false
	}
	if s.ModifyIndex == 0 {
		// The key was written by a lost write; its index shows now.
		if !s.modifyMayBe(out.ModifyIndex) {
			return s, false
		}
		s.ModifyIndex, s.Floor = out.ModifyIndex, max(s.Floor, out.ModifyIndex)
		s.ModifyAbove, s.ModifyBelow = 0, 0
	}
	if s.ModifyIndex != out.ModifyIndex {
		return s, false
	}
	if s.CreateIndex == 0 {
		if out.CreateIndex == 0 || out.CreateIndex > out.ModifyIndex {
			return s, false
		}
		s.CreateIndex = out.CreateIndex
	}
	return s, s.CreateIndex == out.CreateIndex
}

// casHolds reports whether a compare against cas succeeds in s: the
// contract compares with the modify index, where an absent key counts as
// 0. With an unknown modify index it may hold only for an index within
// the bounds and below the write's own index (0: not known either).
func casHolds(s KeyState, cas, ownIndex uint64) bool {
	switch {
	case !s.Present:
		return cas == 0
	case s.ModifyIndex != 0:
		return cas == s.ModifyIndex
	default:
		return s.modifyMayBe(cas) && (ownIndex == 0 || cas < ownIndex)
	}
}

// casFails reports whether a compare against cas may fail in s.
func casFails(s KeyState, cas uint64) bool {
	if s.Present && s.ModifyIndex == 0 {
		return true // some unknown index, which need not be cas
	}
	return !casHolds(s, cas, 0)
}

// stepWrite applies an acknowledged write.
func stepWrite(s KeyState, in Input, out WriteResult) (KeyState, bool) {
	if out.Index <= s.Floor {
		return s, false
	}
	if !out.OK {
		// Only a compare can fail; a failed one changes nothing but still
		// occupies its log index.
		if !in.HasCAS || !casFails(s, in.CAS) {
			return s, false
		}
		if s.Present && s.ModifyIndex == 0 && s.ModifyBelow == 0 {
			s.ModifyBelow = out.Index
		}
		s.Floor = out.Index
		return s, true
	}
	if in.HasCAS && !casHolds(s, in.CAS, out.Index) {
		return s, false
	}
	if in.Lease != "" && in.Lease == s.DeadLease {
		return s, false // attached to a lease that had already ended
	}
	return apply(s, in, out.Index), true
}

// apply returns s after the write in took effect at index (0: unknown).
func apply(s KeyState, in Input, index uint64) KeyState {
	if in.Op == OpDelete {
		return KeyState{Floor: max(s.Floor, index), DeadLease: s.DeadLease}
	}
	next := KeyState{Present: true, Value: in.Value, CreateIndex: s.CreateIndex, ModifyIndex: index, Floor: max(s.Floor, index),
		Lease: in.Lease, DeadLease: s.DeadLease}
	if !s.Present {
		next.CreateIndex = index
	}
	if index == 0 {
		next.ModifyAbove = s.Floor
	}
	return next
}

// stepUnknownWrite returns both fates of a write whose answer was lost: not
// applied (or applied as a failed compare, which changes no key), and
// applied at some index above Floor that is not known yet.
func stepUnknownWrite(s KeyState, in Input) []interface{} {
	states := []interface{}{s}
	if in.Lease != "" && in.Lease == s.DeadLease {
		return states // the server refuses a put on an ended lease
	}
	if !in.HasCAS || casHolds(s, in.CAS, 0) {
		applied := apply(s, in, 0)
		if applied != s {
			states = append(states, applied)
		}
	}
	return states
}

// hashState lets porcupine's cache compare fewer states.
func hashState(state interface{}) uint64 {
	s := state.(KeyState)
	h := fnv.New64a()
	fmt.Fprintf(h, "%t|%d|%d|%d|%d|%d|%s|%s|%s", s.Present, s.CreateIndex, s.ModifyIndex, s.Floor, s.ModifyAbove, s.ModifyBelow, s.Value, s.Lease, s.DeadLease)
	return h.Sum64()
}

func describeOperation(input, output interface{}) string {
	in := input.(Input)
	cas := ""
	if in.HasCAS {
		cas = " cas=" + strconv.FormatUint(in.CAS, 10)
	}
	switch in.Op {
	case OpGet:
		out := output.(GetResult)
		if !out.Found {
			return fmt.Sprintf("get(%q) -> not found", in.Key)
		}
		return fmt.Sprintf("get(%q) -> %q create=%d modify=%d", in.Key, out.Value, out.CreateIndex, out.ModifyIndex)
	case OpPut, OpDelete:
		out := output.(WriteResult)
		what := fmt.Sprintf("delete(%q%s)", in.Key, cas)
		if in.Op == OpPut {
			if in.Lease != "" {
				cas += " lease=" + in.Lease
			}
			what = fmt.Sprintf("put(%q, %q%s)", in.Key, in.Value, cas)
		}
		if out.Unknown {
			return what + " -> unknown"
		}
		return fmt.Sprintf("%s -> ok=%t index=%d", what, out.OK, out.Index)
	}
	return fmt.Sprintf("%v -> %v", input, output)
}

func describeState(state interface{}) string {
	s := state.(KeyState)
	idx := func(i uint64) string {
		if i == 0 {
			return "?"
		}
		return strconv.FormatUint(i, 10)
	}
	if !s.Present {
		if s.DeadLease != "" {
			return fmt.Sprintf("absent (floor %d, lease %s ended)", s.Floor, s.DeadLease)
		}
		return fmt.Sprintf("absent (floor %d)", s.Floor)
	}
	modify := idx(s.ModifyIndex)
	if s.ModifyIndex == 0 {
		modify = fmt.Sprintf("?(>%d, <%s)", s.ModifyAbove, idx(s.ModifyBelow))
	}
	lease := ""
	if s.Lease != "" {
		lease = " lease=" + s.Lease
	}
	return fmt.Sprintf("%q create=%s modify=%s%s (floor %d)", s.Value, idx(s.CreateIndex), modify, lease, s.Floor)
}
