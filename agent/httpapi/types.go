package httpapi

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/clusteragent/agent/api"
)

// The wire types live in the public api package, so the server and every
// client encode one definition; these aliases keep the Backend's
// signatures short.
type (
	Status            = api.Status
	Member            = api.Member
	RaftServer        = api.RaftServer
	RaftConfiguration = api.RaftConfiguration
	AutopilotServer   = api.AutopilotServer
	AutopilotHealth   = api.AutopilotHealth
	ServerStats       = api.ServerStats
	KVEntry           = api.KVEntry
	KVWrite           = api.KVWrite
	ReadMeta          = api.ReadMeta
	OK                = api.OK
	ErrorBody         = api.ErrorBody
	KeyringRequest    = api.KeyringRequest
	KeyringResponse   = api.KeyringResponse
	KeyringKey        = api.KeyringKey
	KeyringNode       = api.KeyringNode
	LeaseInfo         = api.LeaseInfo
	LeaseDetail       = api.LeaseDetail
	SnapshotRestored  = api.SnapshotRestored
)

// Read-freshness headers on every KV read (see api.HeaderIndex).
const (
	HeaderIndex       = api.HeaderIndex
	HeaderKnownLeader = api.HeaderKnownLeader
	HeaderLastContact = api.HeaderLastContact
	HeaderStale       = api.HeaderStale
)

// appendKVWrite appends w as encoding/json would write it, and a newline:
// every write is answered with one, and reflection would cost more than
// the rest of the answer.
func appendKVWrite(b []byte, w KVWrite) []byte {
	b = append(b, `{"ok":`...)
	b = strconv.AppendBool(b, w.OK)
	b = append(b, `,"index":`...)
	b = strconv.AppendUint(b, w.Index, 10)
	return append(b, "}\n"...)
}

// Sentinel errors a Backend returns; the server maps them to status codes.
var (
	// ErrNotLeader: this node cannot do it; the server forwards to the leader (or 503 when none).
	ErrNotLeader = errors.New("not the leader")
	// ErrNoLeader: the cluster has no leader right now (503).
	ErrNoLeader = errors.New("no cluster leader")
	// ErrNotFound: the named thing does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrBadRequest: the request is invalid (400).
	ErrBadRequest = errors.New("bad request")
	// ErrNotServer: this agent is a gossip-only member and cannot do it (400).
	ErrNotServer = errors.New("this agent is not a server")
	// ErrConflict: refused because of the current state (409).
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: the node is shutting down or not ready (503).
	ErrUnavailable = errors.New("unavailable")
	// ErrTooLarge: a key or value exceeds its limit (413).
	ErrTooLarge = errors.New("too large")
)

// Backend is what the HTTP API needs from the agent. Every method may be
// called concurrently from request goroutines and must honour ctx.
type Backend interface {
	Status() Status
	Members() []Member
	RaftConfiguration(ctx context.Context) (RaftConfiguration, error)
	// RemovePeer removes a server from Raft. ErrNotLeader when not leader.
	RemovePeer(ctx context.Context, id string) error
	// TransferLeadership hands leadership to id ("" = best voter) and returns once moved.
	// ErrNotLeader when not leader.
	TransferLeadership(ctx context.Context, id string) error
	AutopilotHealth(ctx context.Context) (AutopilotHealth, error)
	// Ready returns nil when this node has a leader, has applied up to it
	// and, on a server, holds the Raft role it should (see the agent's
	// readiness): restarting the next server is then safe.
	Ready() error
	// Leave starts a graceful leave; the agent exits afterwards.
	Leave(ctx context.Context) error
	// Reload re-reads this agent's TLS CA, certificate and key, all or
	// nothing. ErrBadRequest when TLS is off; any other error (naming the
	// file at fault) means the old material is still in use.
	Reload(ctx context.Context) error
	// Keyring runs a gossip keyring operation (KeyringList, KeyringInstall,
	// KeyringUse, KeyringRemove) on every live member through this agent;
	// key is the base64 key ("" for list) and is never logged. ErrBadRequest
	// for a bad key, ErrConflict when the key is a primary (remove) or not
	// installed everywhere (use), ErrUnavailable naming the members that
	// failed or did not answer.
	Keyring(ctx context.Context, op, key string) (KeyringResponse, error)
	ServerStats() ServerStats
	// LeaderHTTPAddr returns the leader's HTTP address for forwarding ("" if unknown).
	LeaderHTTPAddr() string
	// IsLeader reports whether this node is the Raft leader.
	IsLeader() bool

	// KVGet reads one key: linearizable (ErrNotLeader on a follower, which
	// the server forwards), or from the local copy when stale.
	KVGet(ctx context.Context, key string, stale bool) (KVEntry, ReadMeta, error)
	// KVList reads every key with the prefix, sorted, likewise.
	KVList(ctx context.Context, prefix string, stale bool) ([]KVEntry, ReadMeta, error)
	// KVGetBlocking is KVGet as a blocking read: it answers once the key
	// changed (written or deleted) after q.Index, or when q.Wait passed.
	// ReadMeta.Index is then the index to pass next (never 0), also with
	// ErrNotFound.
	KVGetBlocking(ctx context.Context, key string, stale bool, q BlockingQuery) (KVEntry, ReadMeta, error)
	// KVListBlocking is KVList as a blocking read of everything under the
	// prefix, likewise.
	KVListBlocking(ctx context.Context, prefix string, stale bool, q BlockingQuery) ([]KVEntry, ReadMeta, error)
	// KVPut writes a key once committed; cas as in README.md#http-api (nil: none).
	// ErrNotLeader on a follower.
	KVPut(ctx context.Context, key string, value []byte, cas *uint64) (KVWrite, error)
	// KVDelete deletes a key once committed; cas as for KVPut.
	KVDelete(ctx context.Context, key string, cas *uint64) (KVWrite, error)
	// KVPutLease is KVPut attaching the key to lease; ErrNotFound when the
	// lease does not exist.
	KVPutLease(ctx context.Context, key string, value []byte, cas *uint64, lease uint64) (KVWrite, error)

	// LeaseGrant grants a lease of ttl once committed. ErrNotLeader on a
	// follower; ErrBadRequest for a TTL out of bounds.
	LeaseGrant(ctx context.Context, ttl time.Duration) (LeaseInfo, error)
	// LeaseRenew gives lease id its full TTL again, on the leader only;
	// ErrNotFound once it expired or was revoked.
	LeaseRenew(ctx context.Context, id uint64) (LeaseInfo, error)
	// LeaseRevoke removes lease id and deletes its keys once committed;
	// ErrNotFound when there is no such lease.
	LeaseRevoke(ctx context.Context, id uint64) (KVWrite, error)
	// LeaseShow describes lease id as the leader sees it, or ErrNotFound.
	LeaseShow(ctx context.Context, id uint64) (LeaseDetail, error)
}
