package discovery

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func b64(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

// testKey returns a distinct valid key of n bytes.
func testKey(seed byte, n int) []byte { return bytes.Repeat([]byte{seed}, n) }

func TestParseKey(t *testing.T) {
	good := b64(testKey(7, 32))
	cases := map[string]struct {
		in      string
		wantErr string
	}{
		"16 bytes":       {b64(testKey(1, 16)), ""},
		"24 bytes":       {b64(testKey(1, 24)), ""},
		"32 bytes":       {good, ""},
		"surrounding ws": {"  " + good + "\n", ""},
		"empty":          {"", "empty"},
		"not base64":     {"not*base64*at*all", "not valid base64 (bad data at byte 3)"},
		"url alphabet":   {strings.NewReplacer("+", "-", "/", "_").Replace(b64([]byte{0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 1})), "not valid base64"},
		"10 bytes":       {b64(testKey(1, 10)), "is 10 bytes; it must be 16, 24 or 32 bytes"},
		"33 bytes":       {b64(testKey(1, 33)), "is 33 bytes"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			key, err := ParseKey(tc.in)
			if tc.wantErr == "" {
				if err != nil || len(key) == 0 {
					t.Fatalf("ParseKey: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want ErrInvalidKey mentioning %q", err, tc.wantErr)
			}
			if strings.TrimSpace(tc.in) != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.in)) {
				t.Fatalf("error %q repeats the key", err)
			}
		})
	}
	if fp := KeyFingerprint(good); len(fp) != 8 || fp != KeyFingerprint(" "+good) {
		t.Errorf("fingerprint %q: want 8 stable hex digits", fp)
	}
	if KeyFingerprint("bad") != "" {
		t.Error("fingerprint of an invalid key should be empty")
	}
}

func TestKeyringFileRoundTripAndErrors(t *testing.T) {
	k1, k2 := testKey(1, 32), testKey(2, 16)
	b, err := encodeKeyring([][]byte{k2, k1})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := decodeKeyring(b)
	if err != nil || len(keys) != 2 || !bytes.Equal(keys[0], k2) || !bytes.Equal(keys[1], k1) {
		t.Fatalf("round trip gave %d keys (%v)", len(keys), err)
	}
	secret := b64(k1)
	cases := map[string]struct {
		in   string
		want string
	}{
		"not json":        {`{"version":1,`, "not valid JSON"},
		"wrong type":      {`{"version":"1"}`, `field "version" has the wrong type`},
		"version":         {`{"version":2,"primary":"` + secret + `","keys":["` + secret + `"]}`, "version 2"},
		"bad primary":     {`{"version":1,"primary":"abc","keys":[]}`, "primary:"},
		"bad key":         {`{"version":1,"primary":"` + secret + `","keys":["` + secret + `","AAAA"]}`, "keys[1]: discovery: invalid gossip key: the key is 3 bytes"},
		"primary missing": {`{"version":1,"primary":"` + secret + `","keys":["` + b64(k2) + `"]}`, "is not listed in keys"},
		"too large":       {strings.Repeat(" ", maxKeyringFileSize+1), "bytes, at most"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := decodeKeyring([]byte(tc.in))
			if !errors.Is(err, ErrInvalidKeyringFile) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrInvalidKeyringFile mentioning %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q contains a key", err)
			}
		})
	}
}

func FuzzDecodeKeyring(f *testing.F) {
	good, _ := encodeKeyring([][]byte{testKey(1, 32), testKey(2, 16)})
	f.Add(good)
	f.Add([]byte(`{"version":1,"primary":"","keys":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := decodeKeyring(b)
		if err != nil {
			return
		}
		if len(keys) == 0 {
			t.Fatal("accepted a keyring without keys")
		}
		again, err := encodeKeyring(keys)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeKeyring(again)
		if err != nil || len(back) != len(keys) || !bytes.Equal(back[0], keys[0]) {
			t.Fatalf("re-encoded keyring does not round-trip: %v", err)
		}
	})
}

func FuzzParseKey(f *testing.F) {
	f.Add(b64(testKey(1, 32)))
	f.Add("")
	f.Add("====")
	f.Fuzz(func(t *testing.T, s string) {
		key, err := ParseKey(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("error %v does not wrap ErrInvalidKey", err)
			}
			return
		}
		if n := len(key); n != 16 && n != 24 && n != 32 {
			t.Fatalf("accepted a %d-byte key", n)
		}
	})
}

func withKey(k []byte) func(*Config) { return func(c *Config) { c.SecretKey = k } }

func TestPersistedKeyringSurvivesRestart(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	dir := t.TempDir()
	k1, k2 := testKey(1, 32), testKey(2, 32)
	cfg := c.config("a", withKey(k1), dataDir(dir))
	a := c.start(cfg)

	path := filepath.Join(dir, "gossip", "keyring.json")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring.json seeded from SecretKey: mode %v, %v; want 0600", fi, err)
	}
	if di, err := os.Stat(filepath.Dir(path)); err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("gossip dir mode %v (%v), want 0700", di, err)
	}
	for _, step := range []func() error{
		func() error { return a.InstallKey(b64(k2)) },
		func() error { return a.InstallKey(b64(k2)) }, // idempotent
		func() error { return a.UseKey(b64(k2)) },
		func() error { return a.RemoveKey(b64(k1)) },
		func() error { return a.RemoveKey(b64(k1)) }, // idempotent
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(b64(k1))) {
		t.Fatal("keyring.json still holds the removed key")
	}

	// Restarted with the old configured key, the file wins.
	cfg.BindPort = 0
	again := c.start(cfg)
	primary, all := again.ListKeys()
	if primary != b64(k2) || !slices.Equal(all, []string{b64(k2)}) {
		t.Fatalf("after restart: primary %s keys %d; want only the rotated key", KeyFingerprint(primary), len(all))
	}
	if !strings.Contains(c.logs.String(), "the configured gossip key is not in the persisted keyring") {
		t.Error("no warning that the configured key is ignored")
	}
	if strings.Contains(c.logs.String(), b64(k1)) || strings.Contains(c.logs.String(), b64(k2)) {
		t.Error("a key appears in the logs")
	}
}

func TestCorruptKeyringFileRefusesToStart(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "gossip", "keyring.json")
	if err := writeFileAtomic(path, []byte(`{"version":1,"primary":"short","keys":["short"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(c.config("a", withKey(testKey(1, 32)), dataDir(dir)))
	if !errors.Is(err, ErrInvalidKeyringFile) || !strings.Contains(err.Error(), path) {
		t.Fatalf("New: %v; want ErrInvalidKeyringFile naming %s", err, path)
	}
}

func TestLocalKeyringErrors(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	k1, k2 := testKey(1, 32), testKey(2, 24)
	a := c.start(c.config("a", withKey(k1)))
	err := a.RemoveKey(b64(k1))
	if !errors.Is(err, ErrRemovePrimary) || strings.Contains(err.Error(), b64(k1)) ||
		!strings.Contains(err.Error(), KeyFingerprint(b64(k1))) {
		t.Errorf("removing the primary: %v; want ErrRemovePrimary naming the fingerprint only", err)
	}
	if err := a.UseKey(b64(k2)); !errors.Is(err, ErrKeyNotInstalled) {
		t.Errorf("using an unknown key: %v", err)
	}
	if err := a.InstallKey("AAAA"); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("installing a bad key: %v", err)
	}
	if primary, all := a.ListKeys(); primary != b64(k1) || len(all) != 1 {
		t.Errorf("keyring changed by refused operations: %d keys", len(all))
	}

	plain := c.start(c.config("plain"))
	if err := plain.InstallKey(b64(k2)); !errors.Is(err, ErrEncryptionDisabled) {
		t.Errorf("install without encryption: %v", err)
	}
	if _, err := plain.KeyringOp(context.Background(), KeyOpUse, b64(k2)); !errors.Is(err, ErrEncryptionDisabled) {
		t.Errorf("cluster use without encryption: %v", err)
	}
	if _, err := a.KeyringOp(context.Background(), "rotate", b64(k2)); err == nil || !strings.Contains(err.Error(), `unknown keyring operation "rotate"`) {
		t.Errorf("unknown op: %v", err)
	}
}

// Removing a key from the middle of the ring while gossip is decrypting
// with it must not race with memberlist's readers (run with -race) and must
// keep the order of the other keys.
func TestRemoveMiddleKeyWhileGossiping(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	k1, k2, k3, k4 := b64(testKey(1, 32)), b64(testKey(2, 32)), b64(testKey(3, 32)), b64(testKey(4, 32))
	a := c.start(c.config("a", withKey(testKey(1, 32))))
	b := c.start(c.config("b", withKey(testKey(1, 32)), seeds(a.Addr())))
	waitStatuses(t, allAlive(a, b), a, b)
	for _, k := range []string{k2, k3, k4} {
		if _, err := keyringOp(t, a, KeyOpInstall, k); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{k3, k2} {
		if _, err := keyringOp(t, b, KeyOpRemove, k); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []*Gossip{a, b} {
		if primary, all := g.ListKeys(); primary != k1 || !slices.Equal(all, []string{k1, k4}) {
			t.Fatalf("%s: keys %v after removing the middle ones", g.cfg.NodeID, all)
		}
	}
	waitStatuses(t, allAlive(a, b), a, b)
}
