package linearize

import (
	"errors"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// inf is the return time of an unknown write in hand-written histories:
// after every other event.
const inf = int64(1 << 40)

func opAt(client int, call, ret int64, in Input, out interface{}) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
}

func get(c int, key string, call, ret int64, value string, create, modify uint64) porcupine.Operation {
	return opAt(c, call, ret, Input{Op: OpGet, Key: key}, GetResult{Found: true, Value: value, CreateIndex: create, ModifyIndex: modify})
}

func getMissing(c int, key string, call, ret int64) porcupine.Operation {
	return opAt(c, call, ret, Input{Op: OpGet, Key: key}, GetResult{})
}

func put(c int, key, value string, call, ret int64, index uint64) porcupine.Operation {
	return opAt(c, call, ret, Input{Op: OpPut, Key: key, Value: value}, WriteResult{OK: true, Index: index})
}

func casPut(c int, key, value string, cas uint64, call, ret int64, ok bool, index uint64) porcupine.Operation {
	return opAt(c, call, ret, Input{Op: OpPut, Key: key, Value: value, HasCAS: true, CAS: cas}, WriteResult{OK: ok, Index: index})
}

func del(c int, key string, call, ret int64, index uint64) porcupine.Operation {
	return opAt(c, call, ret, Input{Op: OpDelete, Key: key}, WriteResult{OK: true, Index: index})
}

func casDel(c int, key string, cas uint64, call, ret int64, ok bool, index uint64) porcupine.Operation {
	return opAt(c, call, ret, Input{Op: OpDelete, Key: key, HasCAS: true, CAS: cas}, WriteResult{OK: ok, Index: index})
}

func leasePut(c int, key, value, lease string, call, ret int64, index uint64) porcupine.Operation {
	return opAt(c, call, ret, Input{Op: OpPut, Key: key, Value: value, Lease: lease}, WriteResult{OK: true, Index: index})
}

func unknownPut(c int, key, value string, call int64) porcupine.Operation {
	return opAt(c, call, inf, Input{Op: OpPut, Key: key, Value: value}, WriteResult{Unknown: true})
}

func unknownCASPut(c int, key, value string, cas uint64, call int64) porcupine.Operation {
	return opAt(c, call, inf, Input{Op: OpPut, Key: key, Value: value, HasCAS: true, CAS: cas}, WriteResult{Unknown: true})
}

func unknownDel(c int, key string, call int64) porcupine.Operation {
	return opAt(c, call, inf, Input{Op: OpDelete, Key: key}, WriteResult{Unknown: true})
}

func TestModelHandWrittenHistories(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		ops   []porcupine.Operation
		legal bool
	}{
		"sequential with gaps in the indexes": {legal: true, ops: []porcupine.Operation{
			getMissing(0, "a", 0, 1),
			put(0, "a", "1", 2, 3, 5),
			get(0, "a", 4, 5, "1", 5, 5),
			put(0, "a", "2", 6, 7, 9),
			get(0, "a", 8, 9, "2", 5, 9),
			casPut(0, "a", "3", 9, 10, 11, true, 12),
			casPut(0, "a", "x", 9, 12, 13, false, 13),
			casPut(0, "a", "x", 0, 14, 15, false, 14),
			get(0, "a", 16, 17, "3", 5, 12),
			casDel(0, "a", 5, 18, 19, false, 17),
			del(0, "a", 20, 21, 20),
			getMissing(0, "a", 22, 23),
			del(0, "a", 24, 25, 21), // deleting a missing key succeeds
			casDel(0, "a", 0, 26, 27, true, 22),
			casPut(0, "a", "4", 0, 28, 29, true, 25),
			get(0, "a", 30, 31, "4", 25, 25),
			casDel(0, "a", 25, 32, 33, true, 26),
			getMissing(0, "a", 34, 35),
		}},
		"keys are independent": {legal: true, ops: []porcupine.Operation{
			put(0, "a", "1", 0, 1, 3),
			put(1, "b", "1", 0, 1, 2),
			get(0, "b", 2, 3, "1", 2, 2),
			get(1, "a", 2, 3, "1", 3, 3),
		}},
		"concurrent get may see the old value": {legal: true, ops: []porcupine.Operation{
			put(0, "x", "1", 0, 10, 3),
			put(0, "x", "2", 20, 40, 30),
			get(1, "x", 25, 35, "1", 3, 3),
		}},
		"concurrent get may see the new value": {legal: true, ops: []porcupine.Operation{
			put(0, "x", "1", 0, 10, 3),
			put(0, "x", "2", 20, 40, 30),
			get(1, "x", 25, 35, "2", 3, 30),
		}},
		"concurrent writes ordered by index": {legal: true, ops: []porcupine.Operation{
			put(0, "x", "1", 0, 10, 8),
			put(1, "x", "2", 0, 10, 7),
			get(2, "x", 11, 12, "1", 7, 8),
		}},
		"stale read after an acknowledged write": {ops: []porcupine.Operation{
			put(0, "x", "1", 0, 10, 3),
			put(0, "x", "2", 11, 20, 7),
			get(1, "x", 21, 30, "1", 3, 3),
		}},
		"lost acknowledged write": {ops: []porcupine.Operation{
			put(0, "x", "1", 0, 10, 3),
			getMissing(1, "x", 11, 20),
		}},
		"read shows a wrong modify index": {ops: []porcupine.Operation{
			put(0, "x", "1", 0, 10, 3),
			get(1, "x", 11, 20, "1", 3, 4),
		}},
		"read shows a wrong create index": {ops: []porcupine.Operation{
			put(0, "x", "1", 0, 10, 3),
			put(0, "x", "2", 11, 12, 5),
			get(1, "x", 13, 20, "2", 5, 5),
		}},
		"cas success with a wrong index": {ops: []porcupine.Operation{
			put(0, "x", "1", 0, 10, 3),
			casPut(0, "x", "2", 2, 11, 20, true, 5),
		}},
		"cas 0 success on a present key": {ops: []porcupine.Operation{
			put(0, "x", "1", 0, 10, 3),
			casPut(0, "x", "2", 0, 11, 20, true, 5),
		}},
		"cas failure although it matched": {ops: []porcupine.Operation{
			put(0, "x", "1", 0, 10, 3),
			casPut(0, "x", "2", 3, 11, 20, false, 5),
		}},
		"unconditional put reported not ok": {ops: []porcupine.Operation{
			opAt(0, 0, 1, Input{Op: OpPut, Key: "x", Value: "1"}, WriteResult{OK: false, Index: 3}),
		}},
		"decreasing indexes": {ops: []porcupine.Operation{
			put(0, "x", "1", 0, 5, 10),
			put(0, "x", "2", 6, 9, 7),
		}},
		"failed compare below an earlier write": {ops: []porcupine.Operation{
			put(0, "x", "1", 0, 5, 10),
			casPut(0, "x", "2", 4, 6, 9, false, 7),
		}},
		"unknown write that applied": {legal: true, ops: []porcupine.Operation{
			put(0, "x", "1", 0, 10, 3),
			unknownPut(0, "x", "2", 11),
			get(1, "x", 20, 30, "2", 3, 8),
			put(1, "x", "3", 31, 32, 9),
			get(1, "x", 33, 34, "3", 3, 9),
		}},
		"unknown write that did not apply": {legal: true, ops: []porcupine.Operation{
			put(0, "x", "1", 0, 10, 3),
			unknownPut(0, "x", "2", 11),
			get(1, "x", 20, 30, "1", 3, 3),
			put(1, "x", "3", 31, 32, 9),
			get(1, "x", 33, 34, "3", 3, 9),
		}},
		"unknown write applied late": {legal: true, ops: []porcupine.Operation{
			unknownPut(0, "x", "late", 0),
			put(1, "x", "1", 1, 2, 3),
			get(1, "x", 3, 4, "1", 3, 3),
			get(1, "x", 5, 6, "late", 3, 9),
		}},
		"unknown write that created the key": {legal: true, ops: []porcupine.Operation{
			unknownPut(0, "x", "1", 0),
			get(1, "x", 5, 6, "1", 4, 4),
			put(1, "x", "2", 7, 8, 6),
			get(1, "x", 9, 10, "2", 4, 6),
		}},
		"unknown cas write that applied": {legal: true, ops: []porcupine.Operation{
			put(0, "x", "1", 0, 10, 3),
			unknownCASPut(0, "x", "2", 3, 11),
			get(1, "x", 20, 30, "2", 3, 5),
		}},
		"unknown cas write whose compare cannot hold": {ops: []porcupine.Operation{
			put(0, "x", "1", 0, 10, 3),
			unknownCASPut(0, "x", "2", 99, 11),
			get(1, "x", 20, 30, "2", 3, 5),
		}},
		"failed compare after a lost write, then its index shows": {legal: true, ops: []porcupine.Operation{
			put(0, "x", "1", 0, 10, 32),
			unknownPut(1, "x", "2", 11),
			casPut(2, "x", "3", 32, 12, 20, false, 63),
			get(2, "x", 21, 30, "2", 32, 61),
			casPut(2, "x", "4", 61, 31, 32, true, 70),
		}},
		"lost write shows an index after a later compare": {ops: []porcupine.Operation{
			put(0, "x", "1", 0, 10, 32),
			unknownPut(1, "x", "2", 11),
			casPut(2, "x", "3", 32, 12, 20, false, 63),
			get(2, "x", 21, 30, "2", 32, 64),
		}},
		"unknown delete that applied": {legal: true, ops: []porcupine.Operation{
			put(0, "x", "1", 0, 10, 3),
			unknownDel(0, "x", 11),
			getMissing(1, "x", 20, 30),
		}},
		"unknown write applied below an earlier index": {ops: []porcupine.Operation{
			put(0, "x", "1", 0, 5, 10),
			unknownPut(0, "x", "2", 6),
			get(1, "x", 20, 30, "2", 10, 8),
		}},
		"unknown write cannot be undone": {ops: []porcupine.Operation{
			put(0, "x", "1", 0, 10, 3),
			unknownPut(0, "x", "2", 11),
			get(1, "x", 20, 30, "2", 3, 8),
			get(1, "x", 31, 40, "1", 3, 3),
		}},
		"value never written": {ops: []porcupine.Operation{
			unknownPut(0, "x", "1", 0),
			get(1, "x", 5, 6, "2", 4, 4),
		}},
		"key on a lease vanishes": {legal: true, ops: []porcupine.Operation{
			leasePut(0, "x", "1", "7", 0, 1, 3),
			get(1, "x", 2, 4, "1", 3, 3),
			getMissing(1, "x", 5, 6),
			getMissing(0, "x", 7, 8),
		}},
		"key on a lease comes back": {ops: []porcupine.Operation{
			leasePut(0, "x", "1", "7", 0, 1, 3),
			getMissing(1, "x", 5, 6),
			get(0, "x", 7, 8, "1", 3, 3),
		}},
		"put on an ended lease succeeds": {ops: []porcupine.Operation{
			leasePut(0, "x", "1", "7", 0, 1, 3),
			getMissing(1, "x", 5, 6),
			leasePut(0, "x", "2", "7", 7, 8, 9),
		}},
		"put on an ended lease, answer lost, then seen": {ops: []porcupine.Operation{
			leasePut(0, "x", "1", "7", 0, 1, 3),
			getMissing(1, "x", 5, 6),
			opAt(0, 7, inf, Input{Op: OpPut, Key: "x", Value: "2", Lease: "7"}, WriteResult{Unknown: true}),
			get(1, "x", 10, 11, "2", 12, 12),
		}},
		"key without a lease does not vanish": {ops: []porcupine.Operation{
			leasePut(0, "x", "1", "7", 0, 1, 3),
			put(0, "x", "2", 2, 3, 5),
			getMissing(1, "x", 5, 6),
		}},
		"new lease after the old one ended": {legal: true, ops: []porcupine.Operation{
			leasePut(0, "x", "1", "7", 0, 1, 3),
			getMissing(1, "x", 5, 6),
			leasePut(0, "x", "2", "8", 7, 8, 9),
			get(1, "x", 10, 11, "2", 9, 9),
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res, err := Check(tc.ops, 10*time.Second)
			switch {
			case tc.legal && err != nil:
				t.Fatalf("want linearizable, got %s: %v", res.Verdict, err)
			case !tc.legal && !errors.Is(err, ErrNotLinearizable):
				t.Fatalf("want %v, got verdict %s, error %v", ErrNotLinearizable, res.Verdict, err)
			case !tc.legal && res.Verdict != porcupine.Illegal:
				t.Fatalf("want verdict Illegal, got %s", res.Verdict)
			}
		})
	}
}

func TestCheckRejectsInvalidHistories(t *testing.T) {
	t.Parallel()
	cases := map[string]porcupine.Operation{
		"input type":       {Input: "put x", Output: WriteResult{}},
		"get output type":  {Input: Input{Op: OpGet, Key: "x"}, Output: WriteResult{}},
		"put output type":  {Input: Input{Op: OpPut, Key: "x"}, Output: GetResult{}},
		"unknown op":       {Input: Input{Op: "cas", Key: "x"}, Output: WriteResult{}},
		"return too early": {Input: Input{Op: OpGet, Key: "x"}, Output: GetResult{}, Call: 5, Return: 4},
		"negative client":  {ClientId: -1, Input: Input{Op: OpGet, Key: "x"}, Output: GetResult{}},
	}
	for name, op := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Check([]porcupine.Operation{op}, time.Second)
			if !errors.Is(err, ErrInvalidHistory) {
				t.Fatalf("want %v, got %v", ErrInvalidHistory, err)
			}
		})
	}
	if _, err := Check(nil, 0); !errors.Is(err, ErrInvalidHistory) {
		t.Fatalf("zero timeout: want %v, got %v", ErrInvalidHistory, err)
	}
	if res, err := Check(nil, time.Second); err != nil || !res.Ok() {
		t.Fatalf("empty history: want Ok, got %s, %v", res.Verdict, err)
	}
}
