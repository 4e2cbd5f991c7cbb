package raftnode

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/hashicorp/raft"
)

func TestMutationRoundTrip(t *testing.T) {
	t.Parallel()
	m, err := NewMutation("kv.put", map[string]string{"key": "k"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeMutation(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != "kv.put" || string(got.Payload) != `{"key":"k"}` {
		t.Fatalf("round trip: %+v", got)
	}
	none, err := NewMutation("noop", nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := none.Encode(); string(b) != `{"type":"noop"}` {
		t.Fatalf("nil payload encodes as %s", b)
	}
}

func TestMutationRejectsBadInput(t *testing.T) {
	t.Parallel()
	if _, err := NewMutation("", nil); !errors.Is(err, ErrInvalidMutation) {
		t.Fatalf("empty type: %v", err)
	}
	if _, err := NewMutation("x", func() {}); !errors.Is(err, ErrInvalidMutation) {
		t.Fatalf("unmarshallable payload: %v", err)
	}
	if _, err := (Mutation{Type: "x", Payload: json.RawMessage("{")}).Encode(); !errors.Is(err, ErrInvalidMutation) {
		t.Fatalf("invalid raw payload: %v", err)
	}
	for _, in := range []string{"", "  ", "{", "[]", `{"type":""}`, `{"payload":1}`, `{"type":"a"} {"type":"b"}`, `{"type":"a"}x`, `{"type":5}`, "null"} {
		if _, err := DecodeMutation([]byte(in)); !errors.Is(err, ErrInvalidMutation) {
			t.Errorf("DecodeMutation(%q) = %v, want ErrInvalidMutation", in, err)
		}
	}
}

func TestMuxDispatch(t *testing.T) {
	t.Parallel()
	mux := NewMux()
	var gotIndex uint64
	mux.Handle("echo", func(index uint64, payload json.RawMessage) any {
		gotIndex = index
		return string(payload)
	})
	enc := func(typ string, payload any) []byte {
		m, err := NewMutation(typ, payload)
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if resp := mux.Apply(&raft.Log{Index: 7, Data: enc("echo", 42)}); resp != "42" || gotIndex != 7 {
		t.Fatalf("dispatch: resp %v index %d", resp, gotIndex)
	}
	resp := mux.Apply(&raft.Log{Index: 8, Data: enc("missing", nil)})
	if err, ok := resp.(error); !ok || !errors.Is(err, ErrUnknownMutation) {
		t.Fatalf("unknown type: %v", resp)
	}
	resp = mux.Apply(&raft.Log{Index: 9, Data: []byte("garbage")})
	if err, ok := resp.(error); !ok || !errors.Is(err, ErrInvalidMutation) {
		t.Fatalf("garbage entry: %v", resp)
	}
	for name, register := range map[string]func(){
		"duplicate":  func() { mux.Handle("echo", func(uint64, json.RawMessage) any { return nil }) },
		"nil":        func() { mux.Handle("other", nil) },
		"empty type": func() { mux.Handle("", func(uint64, json.RawMessage) any { return nil }) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s registration did not panic", name)
				}
			}()
			register()
		}()
	}
}

// FuzzDecodeMutation checks that DecodeMutation never panics and that
// whatever it accepts survives an Encode/Decode round trip unchanged.
func FuzzDecodeMutation(f *testing.F) {
	for _, seed := range []string{`{"type":"kv.put","payload":{"k":"v"}}`, `{"type":"x"}`, `{"type":"x","payload":null}`,
		`{"type":"x","payload":"s"}`, `{"type":"x","extra":1}`, "", "{", `{"type":"\ud800"}`, "[1,2]"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMutation(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidMutation) {
				t.Fatalf("error does not wrap ErrInvalidMutation: %v", err)
			}
			return
		}
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("decoded mutation %+v does not encode: %v", m, err)
		}
		again, err := DecodeMutation(enc)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", enc, err)
		}
		if again.Type != m.Type || !jsonEqual(again.Payload, m.Payload) {
			t.Fatalf("round trip changed %+v into %+v", m, again)
		}
	})
}

func jsonEqual(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}
