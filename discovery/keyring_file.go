package discovery

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/hashicorp/memberlist"
)

// keyringFileVersion is the version of keyring.json this code reads and writes.
const keyringFileVersion = 1

// maxKeyringFileSize bounds what is read back: a keyring holds a handful of
// keys, so a large file was not written by this package.
const maxKeyringFileSize = 64 << 10

// keyringFileData is the on-disk keyring. Primary is also in Keys.
type keyringFileData struct {
	Version int      `json:"version"`
	Primary string   `json:"primary"`
	Keys    []string `json:"keys"`
}

// keyringFile persists the keyring in DataDir/gossip/keyring.json (0600,
// written atomically), so a restarted node keeps the keys rotated into it
// instead of going back to its configured key.
type keyringFile struct {
	path string
}

func newKeyringFile(dataDir string) *keyringFile {
	return &keyringFile{path: filepath.Join(dataDir, "gossip", "keyring.json")}
}

// encodeKeyring renders keys, primary first.
func encodeKeyring(keys [][]byte) ([]byte, error) {
	if len(keys) == 0 {
		return nil, errors.New("a keyring needs at least one key")
	}
	f := keyringFileData{Version: keyringFileVersion, Primary: encodeKey(keys[0])}
	for _, k := range keys {
		f.Keys = append(f.Keys, encodeKey(k))
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// decodeKeyring parses a keyring file and returns its keys, primary first.
// The input is treated as hostile (never a panic), and errors never quote
// a key.
func decodeKeyring(b []byte) ([][]byte, error) {
	if len(b) > maxKeyringFileSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d allowed", ErrInvalidKeyringFile, len(b), maxKeyringFileSize)
	}
	var f keyringFileData
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidKeyringFile, describeJSONError(err))
	}
	if f.Version != keyringFileVersion {
		return nil, fmt.Errorf("%w: version %d, this agent reads version %d", ErrInvalidKeyringFile, f.Version, keyringFileVersion)
	}
	primary, err := ParseKey(f.Primary)
	if err != nil {
		return nil, fmt.Errorf("%w: primary: %w", ErrInvalidKeyringFile, err)
	}
	keys := [][]byte{primary}
	found := false
	for i, s := range f.Keys {
		k, err := ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("%w: keys[%d]: %w", ErrInvalidKeyringFile, i, err)
		}
		if keyHash(k) == keyHash(primary) {
			found = true
			continue
		}
		if !slices.ContainsFunc(keys, func(have []byte) bool { return keyHash(have) == keyHash(k) }) {
			keys = append(keys, k)
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: the primary key (%s) is not listed in keys", ErrInvalidKeyringFile, fingerprint(keyHash(primary)))
	}
	return keys, nil
}

// describeJSONError says where JSON is broken without echoing its content,
// which may be a key.
func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("not valid JSON (at byte %d)", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q has the wrong type (want %s)", typ.Field, typ.Type)
	default:
		return "not valid JSON"
	}
}

// load reads the keys, primary first; found is false when there is no file.
func (f *keyringFile) load() (keys [][]byte, found bool, err error) {
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("discovery: read keyring: %w", err)
	}
	keys, err = decodeKeyring(b)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", f.path, err)
	}
	return keys, true, nil
}

// save replaces the file with keys, primary first.
func (f *keyringFile) save(keys [][]byte) error {
	b, err := encodeKeyring(keys)
	if err != nil {
		return err
	}
	return writeFileAtomic(f.path, b, 0o600)
}

// setupKeyring decides this node's keyring before memberlist starts: the
// keyring file when there is one (it holds the rotated keys and wins over
// SecretKey), else SecretKey, which then seeds the file. It sets mc's
// keyring and verification flags.
func (g *Gossip) setupKeyring(mc *memberlist.Config) error {
	k := &keyring{logger: g.logger, plainOut: g.cfg.AllowUnencrypted}
	g.keys = k
	if g.cfg.DataDir != "" {
		k.file = newKeyringFile(g.cfg.DataDir)
	}
	keys, fromFile, err := g.initialKeys(k.file)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		mc.Keyring = nil
		return nil
	}
	ring, err := memberlist.NewKeyring(keys, keys[0])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidKey, err) // unreachable: every key was parsed
	}
	k.ring = ring
	mc.Keyring = ring
	// With verification off, memberlist sends in the clear and accepts both
	// forms, so a cluster can be converted to encryption one node at a time.
	mc.GossipVerifyIncoming = !g.cfg.AllowUnencrypted
	mc.GossipVerifyOutgoing = !g.cfg.AllowUnencrypted
	if !fromFile {
		return k.persist(keys)
	}
	return nil
}

// initialKeys loads the keyring file, or falls back to SecretKey.
func (g *Gossip) initialKeys(file *keyringFile) (keys [][]byte, fromFile bool, err error) {
	if file != nil {
		keys, found, err := file.load()
		if err != nil {
			return nil, false, err
		}
		if found {
			g.noteConfiguredKey(keys, file.path)
			return keys, true, nil
		}
	}
	if len(g.cfg.SecretKey) == 0 {
		return nil, false, nil
	}
	return [][]byte{slices.Clone(g.cfg.SecretKey)}, false, nil
}

// noteConfiguredKey tells the operator when the configured key is not what
// the persisted keyring uses: after a rotation that is expected, but it is
// also how a mistyped key would show up.
func (g *Gossip) noteConfiguredKey(keys [][]byte, path string) {
	g.logger.Info("using the persisted gossip keyring", "path", path, "keys", len(keys),
		"primary_fingerprint", fingerprint(keyHash(keys[0])))
	if len(g.cfg.SecretKey) == 0 {
		return
	}
	want := keyHash(g.cfg.SecretKey)
	if !slices.ContainsFunc(keys, func(k []byte) bool { return keyHash(k) == want }) {
		g.logger.Warn("the configured gossip key is not in the persisted keyring and is ignored; the keyring file wins",
			"path", path, "configured_fingerprint", fingerprint(want))
	}
}
