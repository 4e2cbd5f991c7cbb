package discovery

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func fullMeta() Meta {
	return Meta{
		ID: "node-1", ClusterID: "c-123", RaftAddr: "10.0.0.1:7000", HTTPAddr: "10.0.0.1:7070",
		Role: RoleServer, Zone: "eu-1a", Version: "1.2.3", HasState: true, Features: 1<<63 | 1,
	}
}

func TestMetaRoundTrip(t *testing.T) {
	for name, m := range map[string]Meta{
		"full":    fullMeta(),
		"minimal": {ID: "n"},
		"client":  {ID: "c", Role: RoleClient, HTTPAddr: "[::1]:7070", Zone: "<&>"},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := EncodeMeta(m)
			if err != nil {
				t.Fatal(err)
			}
			if b[0] != metaVersion1 {
				t.Errorf("version byte = %d", b[0])
			}
			got, err := DecodeMeta(b)
			if err != nil || got != m {
				t.Errorf("DecodeMeta = %+v, %v; want %+v", got, err, m)
			}
		})
	}
}

func TestMetaWorstCaseFitsOrFailsClearly(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	m := Meta{
		ID: long(maxIDLen), ClusterID: long(maxClusterLen), RaftAddr: long(maxAddrLen-5) + ":7000",
		HTTPAddr: long(maxAddrLen-5) + ":7070", Role: RoleServer, Zone: long(maxZoneLen), Version: long(maxVersionLen), HasState: true,
	}
	_, err := EncodeMeta(m)
	if !errors.Is(err, ErrMetaTooLarge) || !strings.Contains(err.Error(), "512") {
		t.Fatalf("EncodeMeta(all fields at their limit) = %v, want ErrMetaTooLarge naming the limit", err)
	}
	// A typical production record is far below the limit.
	b, err := EncodeMeta(fullMeta())
	if err != nil || len(b) > 200 {
		t.Errorf("typical meta is %d bytes (%v)", len(b), err)
	}
}

func TestMetaValidateNamesTheField(t *testing.T) {
	cases := map[string]struct {
		mod   func(*Meta)
		field string
	}{
		"no id":        {func(m *Meta) { m.ID = "" }, "Meta.ID"},
		"long id":      {func(m *Meta) { m.ID = strings.Repeat("i", maxIDLen+1) }, "Meta.ID"},
		"long cluster": {func(m *Meta) { m.ClusterID = strings.Repeat("c", maxClusterLen+1) }, "Meta.ClusterID"},
		"long zone":    {func(m *Meta) { m.Zone = strings.Repeat("z", maxZoneLen+1) }, "Meta.Zone"},
		"long version": {func(m *Meta) { m.Version = strings.Repeat("v", maxVersionLen+1) }, "Meta.Version"},
		"bad raft":     {func(m *Meta) { m.RaftAddr = "no-port" }, "Meta.RaftAddr"},
		"bad http":     {func(m *Meta) { m.HTTPAddr = "a:b:c" }, "Meta.HTTPAddr"},
		"bad role":     {func(m *Meta) { m.Role = "voter" }, "Meta.Role"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m := fullMeta()
			tc.mod(&m)
			_, err := EncodeMeta(m)
			if !errors.Is(err, ErrInvalidMeta) || !strings.Contains(err.Error(), tc.field+" ") {
				t.Errorf("EncodeMeta = %v, want ErrInvalidMeta naming %s", err, tc.field)
			}
		})
	}
}

func TestDecodeMetaRejects(t *testing.T) {
	good, _ := EncodeMeta(fullMeta())
	cases := map[string][]byte{
		"empty":       nil,
		"version 0":   append([]byte{0}, good[1:]...),
		"version 2":   append([]byte{2}, good[1:]...),
		"truncated":   good[:len(good)-3],
		"no id":       append([]byte{metaVersion1}, `{"z":"a"}`...),
		"null":        append([]byte{metaVersion1}, `null`...),
		"wrong type":  append([]byte{metaVersion1}, `{"i":1}`...),
		"trailing":    append(bytes.Clone(good), " x"...),
		"too long":    append([]byte{metaVersion1}, bytes.Repeat([]byte(" "), MaxMetaSize)...),
		"json array":  append([]byte{metaVersion1}, `[]`...),
		"only header": {metaVersion1},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeMeta(b); !errors.Is(err, ErrInvalidMeta) {
				t.Errorf("DecodeMeta(%q) = %v, want ErrInvalidMeta", b, err)
			}
		})
	}
}

func TestDecodeMetaIgnoresUnknownKeys(t *testing.T) {
	b := append([]byte{metaVersion1}, `{"i":"n","z":"a","future":{"x":[1,2]}}`...)
	m, err := DecodeMeta(b)
	if err != nil || m != (Meta{ID: "n", Zone: "a"}) {
		t.Errorf("DecodeMeta = %+v, %v", m, err)
	}
}

func TestLeavingFlagIsNotPartOfMeta(t *testing.T) {
	b, err := encodeMeta(fullMeta(), wireExtra{Leaving: true})
	if err != nil {
		t.Fatal(err)
	}
	w, err := decodeWire(b)
	if err != nil || !w.Leaving {
		t.Fatalf("decodeWire = %+v, %v", w, err)
	}
	if m, err := DecodeMeta(b); err != nil || m != fullMeta() {
		t.Errorf("DecodeMeta of leaving meta = %+v, %v", m, err)
	}
}

func FuzzDecodeMeta(f *testing.F) {
	good, _ := EncodeMeta(fullMeta())
	f.Add(good)
	f.Add([]byte{metaVersion1})
	f.Add(append([]byte{metaVersion1}, `{"i":"\u0000","s":true,"o":"x"}`...))
	f.Add([]byte("\x01{\"i\":\"a\",\"i\":\"b\"}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMeta(b)
		if err != nil {
			return
		}
		if m.ID == "" {
			t.Fatal("decoded meta without ID")
		}
		// What decodes and is valid must survive a round trip unchanged.
		enc, err := EncodeMeta(m)
		if err != nil {
			return
		}
		again, err := DecodeMeta(enc)
		if err != nil || again != m {
			t.Fatalf("round trip: %+v -> %+v, %v", m, again, err)
		}
	})
}
