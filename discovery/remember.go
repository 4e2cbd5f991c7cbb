package discovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// persistDebounce batches bursts of membership changes (a whole pool joining)
// into one write.
const persistDebounce = time.Second

// peersFileVersion is the version of peers.json this code writes and reads.
const peersFileVersion = 1

// maxPeersFileSize bounds what is read back: the file is a small cache, and
// a huge one means something else wrote it.
const maxPeersFileSize = 4 << 20

// peersFile is the on-disk form of the remembered members.
type peersFile struct {
	Version int              `json:"version"`
	Members []rememberedPeer `json:"members"`
}

// peerStore persists the remembered members to DataDir/gossip/peers.json.
// Only the persist loop and Shutdown (after the loop stopped) call save, so
// it needs no lock.
type peerStore struct {
	path string
	last []byte // last bytes written, to skip identical writes
}

func newPeerStore(dataDir string) *peerStore {
	return &peerStore{path: filepath.Join(dataDir, "gossip", "peers.json")}
}

// encodePeers renders the file; the output is stable for equal input.
func encodePeers(peers []rememberedPeer) ([]byte, error) {
	if peers == nil {
		peers = []rememberedPeer{}
	}
	b, err := json.MarshalIndent(peersFile{Version: peersFileVersion, Members: peers}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// decodePeers parses and checks a peers file. It never panics on hostile
// input; every entry must have an ID and an ip:port address.
func decodePeers(b []byte) ([]rememberedPeer, error) {
	if len(b) > maxPeersFileSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d allowed", ErrInvalidPeersFile, len(b), maxPeersFileSize)
	}
	var f peersFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPeersFile, err)
	}
	if f.Version != peersFileVersion {
		return nil, fmt.Errorf("%w: version %d, this agent reads version %d", ErrInvalidPeersFile, f.Version, peersFileVersion)
	}
	for i, p := range f.Members {
		if p.ID == "" {
			return nil, fmt.Errorf("%w: members[%d] has no id", ErrInvalidPeersFile, i)
		}
		host, _, err := net.SplitHostPort(p.Addr)
		if err != nil || net.ParseIP(host) == nil {
			return nil, fmt.Errorf("%w: members[%d] (%q) addr %q is not ip:port", ErrInvalidPeersFile, i, p.ID, p.Addr)
		}
	}
	return f.Members, nil
}

// load reads the remembered members; a missing file is an empty list.
func (s *peerStore) load() ([]rememberedPeer, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	peers, err := decodePeers(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.path, err)
	}
	s.last = b
	return peers, nil
}

// save writes the members if they changed since the last write.
func (s *peerStore) save(peers []rememberedPeer) error {
	b, err := encodePeers(peers)
	if err != nil {
		return err
	}
	if bytes.Equal(b, s.last) {
		return nil
	}
	if err := writeFileAtomic(s.path, b, 0o600); err != nil {
		return err
	}
	s.last = b
	return nil
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new file, never a torn one: write a temp file in the same
// directory, fsync it, rename it over path, fsync the directory.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// loadRemembered reads the remembered members at start-up. The file is only
// a cache: when it is unreadable the node starts without it (seeds may still
// work) and says so.
func (g *Gossip) loadRemembered() []rememberedPeer {
	peers, err := g.store.load()
	if err != nil {
		g.logger.Warn("ignoring remembered members file", "path", g.store.path, "error", err)
		return nil
	}
	now := g.clock.Now()
	kept := peers[:0]
	for _, p := range peers {
		if p.ID != g.cfg.NodeID && now.Sub(p.LastSeen) <= g.cfg.DeadRetention {
			kept = append(kept, p)
		}
	}
	if len(kept) > 0 {
		g.logger.Info("loaded remembered members", "count", len(kept), "path", g.store.path)
	}
	return kept
}

// persistLoop saves the remembered members after changes, debounced. It runs
// on its own goroutine because memberlist callbacks must never do file I/O.
func (g *Gossip) persistLoop() {
	defer g.wg.Done()
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-g.dirty:
		}
		select {
		case <-g.ctx.Done():
			return // Shutdown writes the final state
		case <-g.clock.After(persistDebounce):
		}
		g.persist()
	}
}

// persist writes the current remembered members, logging failures: the
// cache being stale is not worth stopping the agent for.
func (g *Gossip) persist() {
	if g.store == nil {
		return
	}
	peers := g.table.rememberedPeers(g.clock.Now(), g.cfg.DeadRetention)
	if err := g.store.save(peers); err != nil {
		g.logger.Warn("could not save remembered members", "path", g.store.path, "error", err)
	}
}
