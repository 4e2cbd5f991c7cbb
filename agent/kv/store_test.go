package kv

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/clusteragent/agent/raftnode/command"
)

func ptr(v uint64) *uint64 { return &v }

// encode returns the log bytes of m, failing the test on error.
func encode(t testing.TB, m command.Mutation, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatalf("build mutation: %v", err)
	}
	b, err := m.Encode()
	if err != nil {
		t.Fatalf("encode mutation: %v", err)
	}
	return b
}

func putData(t testing.TB, key, value string, cas *uint64) []byte {
	t.Helper()
	m, err := PutMutation(key, []byte(value), cas)
	return encode(t, m, err)
}

func deleteData(t testing.TB, key string, cas *uint64) []byte {
	t.Helper()
	m, err := DeleteMutation(key, cas)
	return encode(t, m, err)
}

func apply(s *Store, index uint64, data []byte) any {
	return s.Apply(&raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data})
}

// mustOK applies data and fails unless the result is Result{OK: true}.
func mustOK(t testing.TB, s *Store, index uint64, data []byte) {
	t.Helper()
	if res := apply(s, index, data); res != (Result{OK: true, Index: index}) {
		t.Fatalf("apply %d (%s) = %#v, want OK", index, data, res)
	}
}

func TestApplyCommands(t *testing.T) {
	type want struct {
		exists         bool
		value          string
		create, modify uint64
	}
	kept := want{true, "v2", 1, 2} // "a" as the setup leaves it
	none := want{}
	put := func(key, value string, cas *uint64) func(*testing.T) []byte {
		return func(t *testing.T) []byte { return putData(t, key, value, cas) }
	}
	del := func(key string, cas *uint64) func(*testing.T) []byte {
		return func(t *testing.T) []byte { return deleteData(t, key, cas) }
	}
	// Each case runs on a store where "a" was created at 1 and modified at
	// 2 and "b" is absent, applies one command at index 10, then checks
	// both keys.
	tests := map[string]struct {
		data func(*testing.T) []byte
		ok   bool
		a, b want
	}{
		"put new":            {data: put("b", "new", nil), ok: true, a: kept, b: want{true, "new", 10, 10}},
		"put existing":       {data: put("a", "x", nil), ok: true, a: want{true, "x", 1, 10}, b: none},
		"put empty value":    {data: put("b", "", nil), ok: true, a: kept, b: want{true, "", 10, 10}},
		"put cas 0 absent":   {data: put("b", "new", ptr(0)), ok: true, a: kept, b: want{true, "new", 10, 10}},
		"put cas 0 present":  {data: put("a", "x", ptr(0)), a: kept, b: none},
		"put cas match":      {data: put("a", "x", ptr(2)), ok: true, a: want{true, "x", 1, 10}, b: none},
		"put cas mismatch":   {data: put("a", "x", ptr(1)), a: kept, b: none},
		"put cas on absent":  {data: put("b", "x", ptr(2)), a: kept, b: none},
		"delete":             {data: del("a", nil), ok: true, a: none, b: none},
		"delete missing":     {data: del("b", nil), ok: true, a: kept, b: none},
		"delete cas match":   {data: del("a", ptr(2)), ok: true, a: none, b: none},
		"delete cas stale":   {data: del("a", ptr(1)), a: kept, b: none},
		"delete cas 0 gone":  {data: del("b", ptr(0)), ok: true, a: kept, b: none},
		"delete cas 0 there": {data: del("a", ptr(0)), a: kept, b: none},
		"delete cas missing": {data: del("b", ptr(7)), a: kept, b: none},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := NewStore(DefaultLimits())
			mustOK(t, s, 1, putData(t, "a", "v1", nil))
			mustOK(t, s, 2, putData(t, "a", "v2", nil))
			res := apply(s, 10, tc.data(t))
			if res != (Result{OK: tc.ok, Index: 10}) {
				t.Fatalf("Apply = %#v, want Result{OK: %v, Index: 10}", res, tc.ok)
			}
			for key, w := range map[string]want{"a": tc.a, "b": tc.b} {
				e, ok := s.Get(key)
				got := want{ok, string(e.Value), e.CreateIndex, e.ModifyIndex}
				if got != w {
					t.Errorf("Get(%q) = %+v, want %+v", key, got, w)
				}
				if ok && (e.Key != key || e.Value == nil) {
					t.Errorf("Get(%q) = %#v: wrong key or nil value", key, e)
				}
			}
			if got := s.AppliedIndex(); got != 10 {
				t.Errorf("AppliedIndex = %d, want 10", got)
			}
		})
	}
}

func TestIndexes(t *testing.T) {
	s := NewStore(DefaultLimits())
	steps := []struct {
		data           []byte
		create, modify uint64 // of "k" afterwards; 0, 0: absent
	}{
		{putData(t, "k", "1", nil), 1, 1},
		{putData(t, "k", "2", nil), 1, 2},
		{putData(t, "other", "x", nil), 1, 2},
		{putData(t, "k", "3", ptr(2)), 1, 4},
		{deleteData(t, "k", nil), 0, 0},
		{putData(t, "k", "4", ptr(0)), 6, 6},
		{putData(t, "k", "5", nil), 6, 7},
	}
	for i, st := range steps {
		index := uint64(i + 1)
		mustOK(t, s, index, st.data)
		e, ok := s.Get("k")
		if ok != (st.modify != 0) || e.CreateIndex != st.create || e.ModifyIndex != st.modify {
			t.Fatalf("after step %d: Get(k) = %+v, %v; want create %d modify %d", index, e, ok, st.create, st.modify)
		}
	}
}

func TestListByPrefix(t *testing.T) {
	s := NewStore(DefaultLimits())
	keys := []string{"b", "a/c", "ab", "a/b/c", "a", "a/b", "a-", "é", "a/b0"}
	for i, k := range keys {
		mustOK(t, s, uint64(i+1), putData(t, k, "v"+k, nil))
	}
	tests := map[string][]string{
		"":     {"a", "a-", "a/b", "a/b/c", "a/b0", "a/c", "ab", "b", "é"},
		"a/":   {"a/b", "a/b/c", "a/b0", "a/c"},
		"a/b":  {"a/b", "a/b/c", "a/b0"},
		"a/b/": {"a/b/c"},
		"b":    {"b"},
		"zz":   nil,
		"\xc3": {"é"}, // a prefix need not be a valid key
	}
	for prefix, want := range tests {
		var got []string
		for _, e := range s.List(prefix) {
			got = append(got, e.Key)
			if string(e.Value) != "v"+e.Key {
				t.Errorf("List(%q): %q has value %q", prefix, e.Key, e.Value)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
	if s.Len() != len(keys) {
		t.Errorf("Len = %d, want %d", s.Len(), len(keys))
	}
}

func TestReadsReturnCopies(t *testing.T) {
	s := NewStore(DefaultLimits())
	mustOK(t, s, 1, putData(t, "k", "value", nil))
	e, _ := s.Get("k")
	e.Value[0] = 'X'
	s.List("")[0].Value[0] = 'Y'
	if got, _ := s.Get("k"); string(got.Value) != "value" {
		t.Fatalf("stored value changed through a read: %q", got.Value)
	}
}

func TestApplyRejects(t *testing.T) {
	small := Limits{MaxKeyBytes: 8, MaxValueBytes: 4}
	raw := func(typ, payload string) []byte {
		m := command.Mutation{Type: typ}
		if payload != "" {
			m.Payload = []byte(payload)
		}
		b, err := m.Encode()
		if err != nil {
			t.Fatalf("encode %s %s: %v", typ, payload, err)
		}
		return b
	}
	tests := map[string]struct {
		data []byte
		want error
		msg  string
	}{
		"not json":           {data: []byte("{nope"), want: command.ErrInvalidMutation},
		"empty entry":        {data: nil, want: command.ErrInvalidMutation},
		"no payload":         {data: raw(TypePut, ""), want: ErrInvalidCommand, msg: "payload is missing"},
		"payload not object": {data: raw(TypePut, `["a"]`), want: ErrInvalidCommand, msg: "not a JSON object"},
		"unknown field":      {data: raw(TypePut, `{"key":"a","ttl":5}`), want: ErrInvalidCommand, msg: `unknown field "ttl"`},
		"value not base64":   {data: raw(TypePut, `{"key":"a","value":"!!"}`), want: ErrInvalidCommand},
		"cas negative":       {data: raw(TypePut, `{"key":"a","cas":-1}`), want: ErrInvalidCommand},
		"cas string":         {data: raw(TypeDelete, `{"key":"a","cas":"1"}`), want: ErrInvalidCommand},
		"missing key":        {data: raw(TypePut, `{"value":"eA=="}`), want: ErrInvalidKey, msg: "key is empty"},
		"bad key put":        {data: raw(TypePut, `{"key":"a//b"}`), want: ErrInvalidKey, msg: "empty segment"},
		"bad key delete":     {data: raw(TypeDelete, `{"key":"../x"}`), want: ErrInvalidKey, msg: `".." segment`},
		"control in key":     {data: raw(TypePut, `{"key":"a\u0007"}`), want: ErrInvalidKey, msg: "U+0007"},
		"key over limit":     {data: putData(t, "123456789", "", nil), want: ErrInvalidKey, msg: "the limit is 8"},
		"value over limit":   {data: putData(t, "k", "12345", nil), want: ErrValueTooLarge, msg: "5 bytes"},
		"bin no payload":     {data: raw(TypePutBin, ""), want: ErrInvalidCommand, msg: "payload is missing"},
		"bin unknown flag":   {data: raw(TypePutBin, "\x04\x01a"), want: ErrInvalidCommand, msg: "unknown flags"},
		"bin bad cas":        {data: raw(TypePutBin, "\x01\xff"), want: ErrInvalidCommand, msg: "bad cas"},
		"bin key too long":   {data: raw(TypePutBin, "\x00\x05ab"), want: ErrInvalidCommand, msg: "bad key length"},
		"bin no key length":  {data: raw(TypeDeleteBin, "\x00"), want: ErrInvalidCommand, msg: "bad key length"},
		"bin bad key":        {data: raw(TypePutBin, "\x00\x04a//b"), want: ErrInvalidKey, msg: "empty segment"},
		"bin empty key":      {data: raw(TypeDeleteBin, "\x00\x00"), want: ErrInvalidKey, msg: "key is empty"},
		"bin delete trailer": {data: raw(TypeDeleteBin, "\x00\x01ax"), want: ErrInvalidCommand, msg: "trailing data"},
		"bin value too big":  {data: raw(TypePutBin, "\x00\x01a12345"), want: ErrValueTooLarge, msg: "5 bytes"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := NewStore(small)
			mustOK(t, s, 1, putData(t, "keep", "1234", nil))
			before := s.Hash()
			res := apply(s, 2, tc.data)
			err, isErr := res.(error)
			if !isErr || !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Apply = %#v, want an error wrapping %v containing %q", res, tc.want, tc.msg)
			}
			if !strings.Contains(err.Error(), "entry 2") {
				t.Errorf("error %q does not name the entry", err)
			}
			if s.Hash() != before || s.Len() != 1 {
				t.Errorf("a refused command changed the data")
			}
			if s.AppliedIndex() != 2 {
				t.Errorf("AppliedIndex = %d, want 2: a refused entry is still applied", s.AppliedIndex())
			}
		})
	}
}

func TestApplyOutOfOrder(t *testing.T) {
	s := NewStore(DefaultLimits())
	mustOK(t, s, 5, putData(t, "k", "v", nil))
	for _, index := range []uint64{0, 3, 5} {
		res := apply(s, index, putData(t, "k", "other", nil))
		if err, ok := res.(error); !ok || !errors.Is(err, ErrOutOfOrder) {
			t.Fatalf("Apply at %d = %#v, want ErrOutOfOrder", index, res)
		}
	}
	if e, _ := s.Get("k"); string(e.Value) != "v" || s.AppliedIndex() != 5 {
		t.Fatalf("state moved: %+v, applied %d", e, s.AppliedIndex())
	}
}

func TestMutationBuildersValidate(t *testing.T) {
	if _, err := PutMutation("a//b", nil, nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("PutMutation(bad key) = %v", err)
	}
	if _, err := PutMutation("a", make([]byte, MaxValueBytesCeiling+1), nil); !errors.Is(err, ErrValueTooLarge) {
		t.Errorf("PutMutation(big value) = %v", err)
	}
	if _, err := DeleteMutation("", nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("DeleteMutation(empty) = %v", err)
	}
	cas := uint64(3)
	value := []byte{0, 1}
	m, err := PutMutation("a", value, &cas)
	if err != nil || m.Type != TypePutBin {
		t.Fatalf("PutMutation = %+v, %v", m, err)
	}
	cas, value[0] = 9, 7 // the mutation must not follow the caller's variables
	c, err := DecodeCommand(m)
	if err != nil || c.Delete || c.Key != "a" || !bytes.Equal(c.Value, []byte{0, 1}) || c.CAS == nil || *c.CAS != 3 {
		t.Errorf("DecodeCommand(PutMutation) = %+v, %v", c, err)
	}
	d, err := DeleteMutation("a/b", nil)
	if err != nil || d.Type != TypeDeleteBin {
		t.Fatalf("DeleteMutation = %+v, %v", d, err)
	}
	if c, err := DecodeCommand(d); err != nil || !c.Delete || c.Key != "a/b" || c.CAS != nil || c.Value != nil {
		t.Errorf("DecodeCommand(DeleteMutation) = %+v, %v", c, err)
	}
	legacy := command.Mutation{Type: TypeDelete, Payload: []byte(`{"key":"k","cas":4}`)}
	if c, err := DecodeCommand(legacy); err != nil || !c.Delete || c.Key != "k" || c.CAS == nil || *c.CAS != 4 {
		t.Errorf("DecodeCommand(JSON delete) = %+v, %v", c, err)
	}
	if _, err := DecodeCommand(command.Mutation{Type: "other"}); !errors.Is(err, ErrInvalidCommand) {
		t.Errorf("DecodeCommand(other type) = %v", err)
	}
}

// TestJSONEntriesApplyLikeBinary: logs written by earlier versions hold
// JSON commands; replaying them must give the same state as the binary
// commands that replaced them.
func TestJSONEntriesApplyLikeBinary(t *testing.T) {
	jsonEntry := func(typ, payload string) []byte {
		b, err := command.Mutation{Type: typ, Payload: []byte(payload)}.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	legacy := [][]byte{
		[]byte(`{"type":"kv.put","payload":{"key":"a","value":"eA=="}}`),
		jsonEntry(TypePut, `{"key":"b","value":"eQ==","cas":0}`),
		jsonEntry(TypePut, `{"key":"a","value":"eg==","cas":1}`),
		jsonEntry(TypeDelete, `{"key":"b","cas":2}`),
		jsonEntry(TypePut, `{"key":"c"}`),
		jsonEntry(TypePut, `{"key":"c","value":"eA==","cas":1}`),
	}
	current := [][]byte{
		putData(t, "a", "x", nil),
		putData(t, "b", "y", ptr(0)),
		putData(t, "a", "z", ptr(1)),
		deleteData(t, "b", ptr(2)),
		putData(t, "c", "", nil),
		putData(t, "c", "x", ptr(1)),
	}
	old, cur := NewStore(DefaultLimits()), NewStore(DefaultLimits())
	for i := range legacy {
		index := uint64(i + 1)
		r1, r2 := apply(old, index, legacy[i]), apply(cur, index, current[i])
		if r1 != r2 {
			t.Fatalf("entry %d: JSON gives %#v, binary %#v", index, r1, r2)
		}
	}
	if old.Hash() != cur.Hash() || old.Len() != 2 {
		t.Fatalf("states differ (or wrong size %d): %v vs %v", old.Len(), old.List(""), cur.List(""))
	}
}

// TestApplyMatchesModel drives random commands over a few keys and checks
// the store against a plain map after every one.
func TestApplyMatchesModel(t *testing.T) {
	type modelEntry struct {
		value          string
		create, modify uint64
	}
	rng := rand.New(rand.NewPCG(1, 2))
	s := NewStore(DefaultLimits())
	model := map[string]modelEntry{}
	keys := []string{"a", "a/b", "b", "c/d/e"}
	for index := uint64(1); index <= 3000; index++ {
		key := keys[rng.IntN(len(keys))]
		cur, exists := model[key]
		var cas *uint64
		switch rng.IntN(4) {
		case 0:
			cas = ptr(cur.modify) // matches (0 when absent)
		case 1:
			cas = ptr(uint64(rng.IntN(int(index))))
		}
		ok := cas == nil || *cas == cur.modify
		var data []byte
		if rng.IntN(3) == 0 {
			data = deleteData(t, key, cas)
			if ok {
				delete(model, key)
			}
		} else {
			value := fmt.Sprint(rng.Int())
			data = putData(t, key, value, cas)
			if ok {
				create := index
				if exists {
					create = cur.create
				}
				model[key] = modelEntry{value, create, index}
			}
		}
		if res := apply(s, index, data); res != (Result{OK: ok, Index: index}) {
			t.Fatalf("index %d: Apply = %#v, want OK=%v", index, res, ok)
		}
		for _, k := range keys {
			e, found := s.Get(k)
			m, want := model[k]
			if found != want || (found && (string(e.Value) != m.value || e.CreateIndex != m.create || e.ModifyIndex != m.modify)) {
				t.Fatalf("index %d: Get(%q) = %+v, %v; model %+v, %v", index, k, e, found, m, want)
			}
		}
	}
}

// TestConcurrentReads reads through Get, List and View while Apply runs;
// under -race this checks the lock-free read path, and every view must be
// self-consistent.
func TestConcurrentReads(t *testing.T) {
	s := NewStore(DefaultLimits())
	const writes = 2000
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				if err := checkView(s.View()); err != nil {
					errs <- err
					return
				}
				if e, ok := s.Get("k/7"); ok && string(e.Value) != fmt.Sprint(e.ModifyIndex) {
					errs <- fmt.Errorf("Get(k/7) = %+v: value does not match its index", e)
					return
				}
			}
		}()
	}
	for i := uint64(1); i <= writes; i++ {
		key := fmt.Sprintf("k/%d", i%50)
		if i%7 == 0 {
			mustOK(t, s, i, deleteData(t, key, nil))
		} else {
			mustOK(t, s, i, putData(t, key, fmt.Sprint(i), nil))
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// checkView verifies a view's invariants: keys valid and sorted, values
// matching their modify index as TestConcurrentReads writes them, indexes
// ordered and not above the applied index, Len matching List.
func checkView(v View) error {
	entries := v.List("")
	if len(entries) != v.Len() {
		return fmt.Errorf("List has %d entries, Len says %d", len(entries), v.Len())
	}
	if !sort.SliceIsSorted(entries, func(i, j int) bool { return entries[i].Key < entries[j].Key }) {
		return fmt.Errorf("List is not sorted")
	}
	for _, e := range entries {
		if e.CreateIndex == 0 || e.CreateIndex > e.ModifyIndex || e.ModifyIndex > v.AppliedIndex() {
			return fmt.Errorf("entry %+v is inconsistent with applied index %d", e, v.AppliedIndex())
		}
		if string(e.Value) != fmt.Sprint(e.ModifyIndex) {
			return fmt.Errorf("entry %+v: value does not match its index", e)
		}
	}
	return nil
}

// TestApplyBatchMatchesApply: a batch gives every command the outcome
// Apply gives it one at a time, ends in the same state, skips
// configuration entries, refuses out-of-order entries, and leaves a view
// taken before it unchanged.
func TestApplyBatchMatchesApply(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	one, batched := NewStore(DefaultLimits()), NewStore(DefaultLimits())
	keys := []string{"a", "a/b", "b", "c/d"}
	index := uint64(0)
	for round := 0; round < 200; round++ {
		var logs []*raft.Log
		for n := rng.IntN(12); n >= 0; n-- {
			index++
			key := keys[rng.IntN(len(keys))]
			var cas *uint64
			if rng.IntN(3) == 0 {
				cas = ptr(uint64(rng.IntN(int(index) + 1)))
			}
			var data []byte
			switch rng.IntN(5) {
			case 0:
				data = deleteData(t, key, cas)
			case 1:
				logs = append(logs, &raft.Log{Index: index, Type: raft.LogConfiguration})
				continue
			default:
				data = putData(t, key, fmt.Sprintf("v%d", index), cas)
			}
			logs = append(logs, &raft.Log{Index: index, Type: raft.LogCommand, Data: data})
		}
		if round%50 == 49 { // a replayed entry inside a batch is refused
			logs = append(logs, &raft.Log{Index: index - 1, Type: raft.LogCommand, Data: putData(t, "a", "late", nil)})
		}
		before := batched.View()
		beforeHash := before.Hash()
		got := batched.ApplyBatch(logs)
		if len(got) != len(logs) {
			t.Fatalf("round %d: %d responses for %d entries", round, len(got), len(logs))
		}
		for i, l := range logs {
			if l.Type != raft.LogCommand {
				if got[i] != nil {
					t.Fatalf("entry %d: configuration entry answered %v", l.Index, got[i])
				}
				continue
			}
			want := one.Apply(l)
			if fmt.Sprint(got[i]) != fmt.Sprint(want) {
				t.Fatalf("entry %d: batch gives %v, Apply %v", l.Index, got[i], want)
			}
		}
		if before.Hash() != beforeHash {
			t.Fatalf("round %d: a view taken before the batch changed", round)
		}
		if batched.Hash() != one.Hash() || batched.AppliedIndex() != one.AppliedIndex() {
			t.Fatalf("round %d: batched state (applied %d) differs from one by one (applied %d)", round, batched.AppliedIndex(), one.AppliedIndex())
		}
	}
}

// TestApplyStopsOnUnknownCommand: a command type this version does not
// know (one a newer version wrote) stops Apply with an *UnknownCommandError
// naming the entry and the type, before anything changes, every time it is
// applied: refusing it and going on would diverge from the replicas that
// applied it.
func TestApplyStopsOnUnknownCommand(t *testing.T) {
	data, err := command.Mutation{Type: "kv.frob", Payload: []byte(`{"key":"a"}`)}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	s := NewStore(DefaultLimits())
	mustOK(t, s, 1, putData(t, "keep", "1", nil))
	before := s.Hash()
	for range 2 { // the same entry again, as after a restart
		_, stopped := applyOrStop(s, 2, data)
		if !stopped {
			t.Fatal("Apply went on past an unknown command type")
		}
		if s.Hash() != before || s.AppliedIndex() != 1 {
			t.Fatal("the state changed before Apply stopped")
		}
	}
	func() {
		defer func() {
			e, ok := recover().(*UnknownCommandError)
			if !ok || e.Index != 2 || !errors.Is(e, command.ErrUnknownMutation) ||
				!strings.Contains(e.Error(), `"kv.frob"`) || !strings.Contains(e.Error(), "upgrade") {
				t.Fatalf("panic value = %v, want an *UnknownCommandError for entry 2 naming the type", e)
			}
		}()
		s.ApplyBatch([]*raft.Log{{Index: 2, Term: 1, Type: raft.LogCommand, Data: data}})
	}()
	// A malformed entry is still refused, not fatal: every version refuses
	// it alike.
	if err, ok := apply(s, 3, []byte("{nope")).(error); !ok || !errors.Is(err, command.ErrInvalidMutation) {
		t.Fatalf("garbage: Apply = %v", err)
	}
}
