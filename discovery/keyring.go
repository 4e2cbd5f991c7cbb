package discovery

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
)

// ParseKey decodes a base64 gossip key and checks its length (16, 24 or 32
// bytes: AES-128, -192 or -256). Errors wrap ErrInvalidKey and say what is
// wrong without repeating the key, which is a secret.
func ParseKey(b64 string) ([]byte, error) {
	s := strings.TrimSpace(b64)
	if s == "" {
		return nil, fmt.Errorf("%w: the key is empty", ErrInvalidKey)
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		var pos base64.CorruptInputError
		if errors.As(err, &pos) {
			return nil, fmt.Errorf("%w: not valid base64 (bad data at byte %d)", ErrInvalidKey, int64(pos))
		}
		return nil, fmt.Errorf("%w: not valid base64", ErrInvalidKey)
	}
	switch len(key) {
	case 16, 24, 32:
		return key, nil
	}
	return nil, fmt.Errorf("%w: the key is %d bytes; it must be 16, 24 or 32 bytes", ErrInvalidKey, len(key))
}

// KeyFingerprint names a base64 key without revealing it: the first 8 hex
// digits of the SHA-256 of its bytes. It is what logs and error messages
// show. An undecodable key gives "".
func KeyFingerprint(b64 string) string {
	key, err := ParseKey(b64)
	if err != nil {
		return ""
	}
	return fingerprint(keyHash(key))
}

// keyHash is the full SHA-256 of a key in hex. Members exchange it instead of
// the key itself for every operation but install, so list, use and remove
// never put key material on the wire.
func keyHash(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:])
}

// fingerprint shortens a keyHash for people.
func fingerprint(hash string) string {
	if len(hash) < 8 {
		return hash
	}
	return hash[:8]
}

func encodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// keyring owns this node's memberlist keyring and its persisted copy. mu
// serialises changes so the file and the ring always move together: the
// file is written first and the ring changed only once it is on disk, so a
// failed write changes nothing.
type keyring struct {
	mu     sync.Mutex
	ring   *memberlist.Keyring // nil: this node runs without encryption
	file   *keyringFile        // nil without DataDir
	logger hclog.Logger
	// plainOut is true when outgoing gossip is not encrypted
	// (AllowUnencrypted): key material must then not be sent.
	plainOut bool
}

// state returns a copy of the keys, primary first. memberlist hands out
// its internal slice, so it is copied before anyone can hold on to it.
func (k *keyring) state() [][]byte {
	if k.ring == nil {
		return nil
	}
	return slices.Clone(k.ring.GetKeys())
}

// hashes returns the primary's hash and every key's hash, primary first.
func (k *keyring) hashes() (primary string, all []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	keys := k.state()
	for _, key := range keys {
		all = append(all, keyHash(key))
	}
	if len(all) > 0 {
		primary = all[0]
	}
	return primary, all
}

// list returns the keys in base64, primary first.
func (k *keyring) list() (primary string, all []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, key := range k.state() {
		all = append(all, encodeKey(key))
	}
	if len(all) > 0 {
		primary = all[0]
	}
	return primary, all
}

// byHash returns the key with this hash, primary first in the search.
func (k *keyring) byHash(hash string) ([]byte, int) {
	for i, key := range k.state() {
		if keyHash(key) == hash {
			return key, i
		}
	}
	return nil, -1
}

// knownKeys maps the hash of each local key to its base64 form.
func (k *keyring) knownKeys() map[string]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string]string{}
	for _, key := range k.state() {
		out[keyHash(key)] = encodeKey(key)
	}
	return out
}

// install adds key; installing a key twice is not an error.
func (k *keyring) install(key []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ring == nil {
		return ErrEncryptionDisabled
	}
	keys := k.state()
	if slices.ContainsFunc(keys, func(have []byte) bool { return bytes.Equal(have, key) }) {
		return nil
	}
	if err := k.persist(append(keys, key)); err != nil {
		return err
	}
	if err := k.ring.AddKey(key); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidKey, err) // unreachable: the length was checked
	}
	k.logger.Info("installed gossip key", "fingerprint", fingerprint(keyHash(key)), "keys", len(keys)+1)
	return nil
}

// use makes the key with this hash the primary.
func (k *keyring) use(hash string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ring == nil {
		return ErrEncryptionDisabled
	}
	key, i := k.byHash(hash)
	switch {
	case i < 0:
		return fmt.Errorf("%w: key %s is not in this node's keyring; install it first", ErrKeyNotInstalled, fingerprint(hash))
	case i == 0:
		return nil
	}
	keys := k.state()
	reordered := append([][]byte{key}, slices.Delete(keys, i, i+1)...)
	if err := k.persist(reordered); err != nil {
		return err
	}
	if err := k.ring.UseKey(key); err != nil {
		return fmt.Errorf("%w: %v", ErrKeyNotInstalled, err) // unreachable: found above under mu
	}
	k.logger.Info("gossip key is now the primary", "fingerprint", fingerprint(hash))
	return nil
}

// remove drops the key with this hash. Removing a key that is not there is
// not an error, so a retried cluster-wide remove converges.
func (k *keyring) remove(hash string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ring == nil {
		return ErrEncryptionDisabled
	}
	_, i := k.byHash(hash)
	switch {
	case i < 0:
		return nil
	case i == 0:
		return fmt.Errorf("%w: key %s is this node's primary; make another key primary first", ErrRemovePrimary, fingerprint(hash))
	}
	keys := k.state()
	if err := k.persist(slices.Delete(slices.Clone(keys), i, i+1)); err != nil {
		return err
	}
	k.removeFromRing(keys, i)
	k.logger.Info("removed gossip key", "fingerprint", fingerprint(hash), "keys", len(keys)-1)
	return nil
}

// removeFromRing removes keys[i] (not the primary) from the memberlist ring.
// memberlist's RemoveKey shifts the later keys down inside the slice that
// GetKeys has handed to its decrypting goroutines, which is a data race
// unless the removed key is the last one. So the keys after it are removed
// last-first, then it, then they are added back in order. While that runs
// (microseconds), a message encrypted with one of those later, secondary
// keys may fail to decrypt and is dropped; gossip retries it.
func (k *keyring) removeFromRing(keys [][]byte, i int) {
	tail := keys[i+1:]
	for j := len(tail) - 1; j >= 0; j-- {
		_ = k.ring.RemoveKey(tail[j]) // never the primary: j > i >= 1
	}
	_ = k.ring.RemoveKey(keys[i])
	for _, key := range tail {
		_ = k.ring.AddKey(key) // valid: it was on the ring
	}
}

// persist writes keys (primary first) when the keyring has a file.
func (k *keyring) persist(keys [][]byte) error {
	if k.file == nil {
		return nil
	}
	if err := k.file.save(keys); err != nil {
		return fmt.Errorf("discovery: save keyring %s: %w", k.file.path, err)
	}
	return nil
}

// ListKeys returns this node's keys in base64: the primary (used to encrypt
// what this node sends) and all of them, primary first. Both are empty when
// encryption is off.
func (g *Gossip) ListKeys() (primary string, all []string) { return g.keys.list() }

// EncryptionEnabled reports whether this node has a gossip keyring.
func (g *Gossip) EncryptionEnabled() bool { return g.keys.ring != nil }

// InstallKey adds a base64 key to this node's keyring, so gossip encrypted
// with it can be read here; it does not change what this node sends with.
// The keyring file is updated first. Installing an installed key does
// nothing.
func (g *Gossip) InstallKey(b64 string) error {
	key, err := ParseKey(b64)
	if err != nil {
		return err
	}
	return g.keys.install(key)
}

// UseKey makes an installed base64 key this node's primary: the one it
// encrypts with. ErrKeyNotInstalled when it is not installed.
func (g *Gossip) UseKey(b64 string) error {
	key, err := ParseKey(b64)
	if err != nil {
		return err
	}
	return g.keys.use(keyHash(key))
}

// RemoveKey removes a base64 key from this node's keyring. ErrRemovePrimary
// when it is the primary; removing a key that is not installed does nothing.
func (g *Gossip) RemoveKey(b64 string) error {
	key, err := ParseKey(b64)
	if err != nil {
		return err
	}
	return g.keys.remove(keyHash(key))
}
