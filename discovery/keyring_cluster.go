package discovery

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// KeyOp is a cluster-wide keyring operation.
type KeyOp string

// Keyring operations, with Consul's meaning.
const (
	// KeyOpList gathers every member's keys.
	KeyOpList KeyOp = "list"
	// KeyOpInstall adds a key on every member (they can then read it).
	KeyOpInstall KeyOp = "install"
	// KeyOpUse makes an installed key every member's primary (they then
	// encrypt with it).
	KeyOpUse KeyOp = "use"
	// KeyOpRemove removes a key from every member; refused while it is a
	// primary anywhere.
	KeyOpRemove KeyOp = "remove"
)

// defaultKeyringTimeout bounds KeyringOp when its ctx has no deadline.
const defaultKeyringTimeout = 10 * time.Second

// KeyringResponse is the outcome of KeyringOp.
type KeyringResponse struct {
	// Op is the operation that was asked for.
	Op KeyOp
	// Fingerprint names the key given (install, use, remove); see KeyFingerprint.
	Fingerprint string
	// NumNodes is how many members were asked, this node included.
	NumNodes int
	// Nodes is each member's answer, sorted by ID.
	Nodes []KeyringNodeResult
	// Keys is, for list, every key any member holds, the most used first.
	Keys []KeyringKey
}

// KeyringNodeResult is one member's answer.
type KeyringNodeResult struct {
	// ID is the member's node ID.
	ID string
	// Error is why the member failed or gave no answer; "" on success.
	Error string
	// Encrypted (list) is false for a member running without encryption.
	Encrypted bool
	// Primary (list) is the fingerprint of the member's primary key.
	Primary string
	// Keys (list) are the fingerprints of the member's keys, primary first.
	Keys []string
}

// KeyringKey is one key of a list answer.
type KeyringKey struct {
	// Key is the base64 key when this node holds it; other members send
	// only hashes, so a key unknown here shows by Fingerprint alone.
	Key string
	// Fingerprint is the first 8 hex digits of the key's SHA-256.
	Fingerprint string
	// Members is how many members hold the key.
	Members int
	// PrimaryOn lists the members whose primary it is, sorted.
	PrimaryOn []string
}

// Failed returns the members that failed or did not answer.
func (r KeyringResponse) Failed() []KeyringNodeResult {
	var out []KeyringNodeResult
	for _, n := range r.Nodes {
		if n.Error != "" {
			out = append(out, n)
		}
	}
	return out
}

// KeyringOp applies op on every live member (this node included) and
// gathers their answers, waiting until all answered or ctx ends (10s when
// ctx has no deadline). key is the base64 key; list ignores it.
//
// use first lists the keys everywhere and changes nothing unless every
// member has the key (a member encrypting with a key others lack would be
// cut off); remove likewise changes nothing while the key is a primary
// anywhere (ErrRemovePrimary). When some members fail or do not answer the
// error wraps ErrKeyringMembers and names them; the others keep the change,
// and repeating the operation is safe. The response is filled in as far as
// it got.
func (g *Gossip) KeyringOp(ctx context.Context, op KeyOp, key string) (KeyringResponse, error) {
	g.lifecycle.RLock()
	defer g.lifecycle.RUnlock()
	if g.closed {
		return KeyringResponse{Op: op}, ErrShutdown
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultKeyringTimeout)
		defer cancel()
	}
	req, err := g.newKeyringRequest(op, key)
	if err != nil {
		return KeyringResponse{Op: op}, err
	}
	fp := fingerprint(req.KeyHash)
	switch op {
	case KeyOpUse, KeyOpRemove:
		if resp, err := g.keyringPrecheck(ctx, req); err != nil {
			resp.Op, resp.Fingerprint = op, fp
			return resp, err
		}
	}
	resp, err := g.keyringRound(ctx, req)
	resp.Fingerprint = fp
	if err == nil && op != KeyOpList {
		g.logger.Info("keyring operation applied on every member", "op", op, "fingerprint", fp, "members", resp.NumNodes)
	}
	return resp, err
}

// newKeyringRequest validates op and key and builds the request.
func (g *Gossip) newKeyringRequest(op KeyOp, b64 string) (keyringRequest, error) {
	req := keyringRequest{Version: keyringProtoVersion, From: g.cfg.NodeID, ClusterID: g.meta.Load().meta.ClusterID, Op: op}
	switch op {
	case KeyOpList:
		return req, nil
	case KeyOpInstall, KeyOpUse, KeyOpRemove:
	default:
		return req, fmt.Errorf("discovery: unknown keyring operation %q (want %s, %s, %s or %s)",
			op, KeyOpList, KeyOpInstall, KeyOpUse, KeyOpRemove)
	}
	key, err := ParseKey(b64)
	if err != nil {
		return req, err
	}
	req.KeyHash = keyHash(key)
	if !g.EncryptionEnabled() {
		return req, fmt.Errorf("%w on this node: start it with a key before managing the keyring", ErrEncryptionDisabled)
	}
	if op == KeyOpInstall {
		if g.keys.plainOut {
			return req, fmt.Errorf("%w (allow_unencrypted is on), so install would send the key in the clear; "+
				"turn allow_unencrypted off first, or give each node the key in its configuration", ErrUnencryptedTransport)
		}
		req.Key = encodeKey(key)
	}
	return req, nil
}

// keyringPrecheck lists the keys everywhere and refuses use of a key some
// member lacks, and removal of a key that is a primary somewhere. Nothing
// has changed when it returns an error.
func (g *Gossip) keyringPrecheck(ctx context.Context, req keyringRequest) (KeyringResponse, error) {
	list := req
	list.Op, list.Key, list.KeyHash = KeyOpList, "", ""
	replies := g.gather(ctx, list)
	resp := buildKeyringResponse(KeyOpList, replies, g.keys.knownKeys())
	if err := failuresError(resp); err != nil {
		return resp, fmt.Errorf("%w (nothing was changed)", err)
	}
	var lacking, primaryOn []string
	for _, id := range sortedIDs(replies) {
		keys := replies[id].Keys
		if !slices.Contains(keys, req.KeyHash) {
			lacking = append(lacking, id)
		}
		if len(keys) > 0 && keys[0] == req.KeyHash {
			primaryOn = append(primaryOn, id)
		}
	}
	fp := fingerprint(req.KeyHash)
	switch {
	case req.Op == KeyOpUse && len(lacking) > 0:
		return resp, fmt.Errorf("%w: key %s is missing on %s; install it first (nothing was changed)",
			ErrKeyNotInstalled, fp, strings.Join(lacking, ", "))
	case req.Op == KeyOpRemove && len(primaryOn) > 0:
		return resp, fmt.Errorf("%w: key %s is the primary on %s; make another key primary with use first (nothing was changed)",
			ErrRemovePrimary, fp, strings.Join(primaryOn, ", "))
	}
	return resp, nil
}

// keyringRound applies req everywhere and summarises the answers.
func (g *Gossip) keyringRound(ctx context.Context, req keyringRequest) (KeyringResponse, error) {
	replies := g.gather(ctx, req)
	resp := buildKeyringResponse(req.Op, replies, g.keys.knownKeys())
	return resp, failuresError(resp)
}

// gather applies req on this node, then on every other live member.
func (g *Gossip) gather(ctx context.Context, req keyringRequest) map[string]keyringReply {
	local := g.applyKeyringRequest(req)
	var targets []Member
	for _, m := range g.Members() {
		if m.ID != g.cfg.NodeID && (m.Status == StatusAlive || m.Status == StatusSuspect) {
			targets = append(targets, m)
		}
	}
	replies := g.roundTrip(ctx, req, targets)
	replies[g.cfg.NodeID] = local
	return replies
}

// buildKeyringResponse summarises replies: per member, and for list the
// union of keys with how many members hold each and where it is primary.
// known maps key hashes to the keys this node holds.
func buildKeyringResponse(op KeyOp, replies map[string]keyringReply, known map[string]string) KeyringResponse {
	resp := KeyringResponse{Op: op, NumNodes: len(replies)}
	keys := map[string]*KeyringKey{}
	for _, id := range sortedIDs(replies) {
		rep := replies[id]
		n := KeyringNodeResult{ID: id, Error: rep.Error}
		if op == KeyOpList && rep.Error == "" {
			n.Encrypted = rep.Encrypted
			for i, h := range rep.Keys {
				n.Keys = append(n.Keys, fingerprint(h))
				k := keys[h]
				if k == nil {
					k = &KeyringKey{Key: known[h], Fingerprint: fingerprint(h)}
					keys[h] = k
				}
				k.Members++
				if i == 0 {
					n.Primary = fingerprint(h)
					k.PrimaryOn = append(k.PrimaryOn, id)
				}
			}
		}
		resp.Nodes = append(resp.Nodes, n)
	}
	for _, k := range keys {
		resp.Keys = append(resp.Keys, *k)
	}
	sort.Slice(resp.Keys, func(i, j int) bool {
		a, b := resp.Keys[i], resp.Keys[j]
		if len(a.PrimaryOn) != len(b.PrimaryOn) {
			return len(a.PrimaryOn) > len(b.PrimaryOn)
		}
		if a.Members != b.Members {
			return a.Members > b.Members
		}
		return a.Fingerprint < b.Fingerprint
	})
	return resp
}

// failuresError lists the members that failed, or is nil.
func failuresError(resp KeyringResponse) error {
	failed := resp.Failed()
	if len(failed) == 0 {
		return nil
	}
	parts := make([]string, len(failed))
	for i, n := range failed {
		parts[i] = n.ID + ": " + n.Error
	}
	return fmt.Errorf("%w: %d of %d: %s", ErrKeyringMembers, len(failed), resp.NumNodes, strings.Join(parts, "; "))
}

func sortedIDs(replies map[string]keyringReply) []string {
	ids := make([]string, 0, len(replies))
	for id := range replies {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
