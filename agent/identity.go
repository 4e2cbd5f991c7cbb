package agent

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

const (
	nodeIDFile    = "node-id"
	clusterIDFile = "cluster-id"
)

// identity is this node's persisted node ID and cluster ID. The cluster ID is
// empty until the node belongs to a cluster; once set it never changes, which
// is what keeps two clusters from merging when their gossip pools meet.
type identity struct {
	dir    string
	nodeID string

	mu        sync.RWMutex
	clusterID string
}

// loadIdentity reads or creates the node ID and reads the cluster ID. A
// configured node ID must match the one already in the data dir: a data dir
// holds one node's Raft log, and running it under another ID would make two
// servers claim one history.
func loadIdentity(dir, configured string) (*identity, error) {
	id, err := readIDFile(filepath.Join(dir, nodeIDFile))
	if err != nil {
		return nil, err
	}
	switch {
	case id == "" && configured == "":
		id = newNodeID()
		if err := writeIDFile(filepath.Join(dir, nodeIDFile), id); err != nil {
			return nil, err
		}
	case id == "":
		id = configured
		if err := writeIDFile(filepath.Join(dir, nodeIDFile), id); err != nil {
			return nil, err
		}
	case configured != "" && configured != id:
		return nil, fmt.Errorf("%w: data dir %s belongs to node %q, not %q", ErrIdentity, dir, id, configured)
	}
	cid, err := readIDFile(filepath.Join(dir, clusterIDFile))
	if err != nil {
		return nil, err
	}
	return &identity{dir: dir, nodeID: id, clusterID: cid}, nil
}

// ClusterID returns the cluster ID, or "" when not yet in a cluster.
func (i *identity) ClusterID() string {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.clusterID
}

// SetClusterID persists id once. It reports whether the ID changed and
// refuses to replace a different existing ID.
func (i *identity) SetClusterID(id string) (bool, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	switch i.clusterID {
	case id:
		return false, nil
	case "":
	default:
		return false, fmt.Errorf("%w: this node belongs to cluster %s, not %s", ErrIdentity, i.clusterID, id)
	}
	if err := writeIDFile(filepath.Join(i.dir, clusterIDFile), id); err != nil {
		return false, err
	}
	i.clusterID = id
	return true, nil
}

func newClusterID() string {
	b := randomHex(16)
	return b[0:8] + "-" + b[8:12] + "-" + b[12:16] + "-" + b[16:20] + "-" + b[20:32]
}

// newNodeID draws a random (version 4) UUID from crypto/rand: 122 random
// bits, so two generated IDs never collide in practice. Two nodes with one
// ID come only from a copied data dir, which gossip detects and refuses
// (discovery/conflict.go). The form is the one Consul uses for its node IDs.
func newNodeID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the platform is broken; nothing sane to do
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the platform is broken; nothing sane to do
	}
	return hex.EncodeToString(b)
}

func readIDFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	id := strings.TrimSpace(string(b))
	if id != "" && !ValidNodeID(id) {
		return "", fmt.Errorf("%s holds %q, which is not a valid ID", path, id)
	}
	return id, nil
}

// writeIDFile writes atomically so a crash never leaves a half-written ID.
func writeIDFile(path, id string) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := f.WriteString(id + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
