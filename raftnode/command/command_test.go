package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
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
	if b, _ := none.Encode(); string(b) != "\x01\x04noop" {
		t.Fatalf("nil payload encodes as %q", b)
	}
	// Payloads are opaque: a handler may define a binary encoding.
	raw := Mutation{Type: "bin", Payload: json.RawMessage{0, 1, 2, '{'}}
	b, err = raw.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeMutation(b); err != nil || got.Type != "bin" || !bytes.Equal(got.Payload, raw.Payload) {
		t.Fatalf("binary payload round trip: %+v, %v", got, err)
	}
}

// TestMutationDecodesJSONEnvelope: entries written by versions that
// encoded the envelope as JSON must keep their meaning.
func TestMutationDecodesJSONEnvelope(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Mutation{
		`{"type":"kv.put","payload":{"key":"k"}}`: {Type: "kv.put", Payload: json.RawMessage(`{"key":"k"}`)},
		` {"type":"noop"}`:                        {Type: "noop"},
		`{"type":"x","payload":null}`:             {Type: "x"},
	} {
		got, err := DecodeMutation([]byte(in))
		if err != nil || got.Type != want.Type || !bytes.Equal(got.Payload, want.Payload) {
			t.Errorf("DecodeMutation(%s) = %+v, %v; want %+v", in, got, err, want)
		}
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
	if _, err := (Mutation{Type: strings.Repeat("t", maxMutationTypeLen+1)}).Encode(); !errors.Is(err, ErrInvalidMutation) {
		t.Fatalf("oversized type: %v", err)
	}
	for _, in := range []string{"", "  ", "{", "[]", `{"type":""}`, `{"payload":1}`, `{"type":"a"} {"type":"b"}`, `{"type":"a"}x`, `{"type":5}`, "null",
		"\x01", "\x01\x00", "\x01\x05abc", "\x01\x81", "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "\x01\x81\x01" + strings.Repeat("t", 129)} {
		if _, err := DecodeMutation([]byte(in)); !errors.Is(err, ErrInvalidMutation) {
			t.Errorf("DecodeMutation(%q) = %v, want ErrInvalidMutation", in, err)
		}
	}
}

func TestRouterDispatch(t *testing.T) {
	t.Parallel()
	mux := NewRouter()
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
	for _, seed := range []string{"\x01\x06kv.put\x00\x01k", "\x01\x01x", "\x01\x80\x01", `{"type":"kv.put","payload":{"k":"v"}}`, `{"type":"x"}`, `{"type":"x","payload":null}`,
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
		if again.Type != m.Type || !bytes.Equal(again.Payload, m.Payload) {
			t.Fatalf("round trip changed %+v into %+v", m, again)
		}
	})
}
