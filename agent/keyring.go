package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/discovery"
)

// keyringTimeout bounds a cluster-wide keyring operation asked through the
// API: long enough for a slow member to answer, short enough that the
// client (one minute by default) learns which members did not.
const keyringTimeout = 15 * time.Second

// Keyring runs a gossip keyring operation on every live member. Keyring
// operations act on the gossip pool, which every agent (server or not)
// belongs to, so they are never forwarded to the leader.
func (b backend) Keyring(ctx context.Context, op, key string) (httpapi.KeyringResponse, error) {
	g := b.a.gossip
	if g == nil {
		return httpapi.KeyringResponse{Op: op}, fmt.Errorf("%w: gossip is not running", httpapi.ErrUnavailable)
	}
	switch op {
	case httpapi.KeyringList, httpapi.KeyringInstall, httpapi.KeyringUse, httpapi.KeyringRemove:
	default:
		return httpapi.KeyringResponse{Op: op}, fmt.Errorf("%w: unknown keyring operation %q", httpapi.ErrBadRequest, op)
	}
	ctx, cancel := context.WithTimeout(ctx, keyringTimeout)
	defer cancel()
	resp, err := g.KeyringOp(ctx, discovery.KeyOp(op), key)
	if err != nil {
		return toAPIKeyring(resp), mapKeyringErr(err)
	}
	return toAPIKeyring(resp), nil
}

func toAPIKeyring(r discovery.KeyringResponse) httpapi.KeyringResponse {
	out := httpapi.KeyringResponse{Op: string(r.Op), Fingerprint: r.Fingerprint, NumNodes: r.NumNodes,
		Keys: []httpapi.KeyringKey{}, Nodes: []httpapi.KeyringNode{}}
	for _, k := range r.Keys {
		primaryOn := k.PrimaryOn
		if primaryOn == nil {
			primaryOn = []string{}
		}
		out.Keys = append(out.Keys, httpapi.KeyringKey{Key: k.Key, Fingerprint: k.Fingerprint, Members: k.Members, PrimaryOn: primaryOn})
	}
	for _, n := range r.Nodes {
		out.Nodes = append(out.Nodes, httpapi.KeyringNode{ID: n.ID, OK: n.Error == "", Error: n.Error,
			Encrypted: n.Encrypted, Primary: n.Primary, Keys: n.Keys})
	}
	return out
}

// mapKeyringErr gives a discovery error the httpapi kind that sets the
// status, keeping its message as it is.
func mapKeyringErr(err error) error {
	var kind error
	switch {
	case errors.Is(err, discovery.ErrInvalidKey):
		kind = httpapi.ErrBadRequest
	case errors.Is(err, discovery.ErrRemovePrimary), errors.Is(err, discovery.ErrKeyNotInstalled),
		errors.Is(err, discovery.ErrEncryptionDisabled), errors.Is(err, discovery.ErrUnencryptedTransport):
		kind = httpapi.ErrConflict
	case errors.Is(err, discovery.ErrKeyringMembers), errors.Is(err, discovery.ErrShutdown):
		kind = httpapi.ErrUnavailable
	default:
		return err
	}
	return &kindError{kind: kind, err: err}
}

// kindError is err classified as kind for errors.Is, with err's message
// alone (no "conflict: " prefix in front of a message that says it all).
type kindError struct {
	kind, err error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }
