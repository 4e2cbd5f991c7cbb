package httpapi

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Status is the body of GET /v1/status.
type Status struct {
	NodeID       string `json:"node_id"`
	ClusterID    string `json:"cluster_id"`
	State        string `json:"state"` // leader, follower, candidate, shutdown
	LeaderID     string `json:"leader_id"`
	LeaderAddr   string `json:"leader_addr"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	LastLogIndex uint64 `json:"last_log_index"`
	// LastContact is a Go duration string ("0s" on the leader, "never" when
	// this node has never heard from a leader).
	LastContact string `json:"last_contact"`
	// LastContactSeconds is LastContact in seconds (-1 for never).
	LastContactSeconds float64 `json:"last_contact_seconds"`
	Server             bool    `json:"server"`
	Version            string  `json:"version"`
	// LogStore is the Raft log store this server uses: "wal" or "boltdb";
	// empty on a gossip-only member.
	LogStore string `json:"log_store,omitempty"`
}

// Member is one element of GET /v1/members.
type Member struct {
	ID       string            `json:"id"`
	Addr     string            `json:"addr"`
	Status   string            `json:"status"` // alive, suspect, dead, left
	RaftAddr string            `json:"raft_addr"`
	Role     string            `json:"role"` // server, client
	Zone     string            `json:"zone"`
	Meta     map[string]string `json:"meta"`
}

// RaftServer is one server of GET /v1/raft/configuration.
type RaftServer struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	Suffrage string `json:"suffrage"` // voter, nonvoter (staging shows as nonvoter)
	Leader   bool   `json:"leader"`
}

// RaftConfiguration is the body of GET /v1/raft/configuration.
type RaftConfiguration struct {
	Index   uint64       `json:"index"`
	Servers []RaftServer `json:"servers"`
}

// AutopilotServer is one server of GET /v1/autopilot/health.
type AutopilotServer struct {
	ID          string `json:"id"`
	Address     string `json:"address"`
	NodeStatus  string `json:"node_status"`
	Healthy     bool   `json:"healthy"`
	Voter       bool   `json:"voter"`
	Leader      bool   `json:"leader"`
	LastContact string `json:"last_contact"`
	LastTerm    uint64 `json:"last_term"`
	LastIndex   uint64 `json:"last_index"`
	StableSince string `json:"stable_since"` // RFC 3339
}

// AutopilotHealth is the body of GET /v1/autopilot/health.
type AutopilotHealth struct {
	Healthy          bool              `json:"healthy"`
	FailureTolerance int               `json:"failure_tolerance"`
	Leader           string            `json:"leader"`
	Voters           []string          `json:"voters"`
	Servers          []AutopilotServer `json:"servers"`
}

// ServerStats is the body of GET /v1/internal/stats: what the leader's
// autopilot fetches from each server to judge its health.
type ServerStats struct {
	NodeID           string `json:"node_id"`
	ClusterID        string `json:"cluster_id"`
	LastContactNanos int64  `json:"last_contact_ns"` // -1: never
	LastTerm         uint64 `json:"last_term"`
	LastIndex        uint64 `json:"last_index"`
	HasState         bool   `json:"has_state"`
	// ServerIDs are the servers this node sees alive in gossip, so a node
	// deciding whether to bootstrap can learn what its peers see.
	ServerIDs []string `json:"server_ids"`
}

// KVEntry is one key of the store, as GET /v1/kv/{key} answers it. Value
// is base64 in JSON.
type KVEntry struct {
	Key         string `json:"key"`
	Value       []byte `json:"value"`
	CreateIndex uint64 `json:"create_index"`
	ModifyIndex uint64 `json:"modify_index"`
}

// KVWrite is the body of PUT and DELETE /v1/kv/{key}: OK is false when a
// compare-and-set failed; Index is the log index the write committed at.
type KVWrite struct {
	OK    bool   `json:"ok"`
	Index uint64 `json:"index"`
}

// appendJSON appends w as encoding/json would write it, and a newline:
// every write is answered with one, and reflection would cost more than
// the rest of the answer.
func (w KVWrite) appendJSON(b []byte) []byte {
	b = append(b, `{"ok":`...)
	b = strconv.AppendBool(b, w.OK)
	b = append(b, `,"index":`...)
	b = strconv.AppendUint(b, w.Index, 10)
	return append(b, "}\n"...)
}

// ReadMeta describes how fresh a read is; the server sends it as headers
// (X-Agent-Index, X-Agent-Known-Leader, X-Agent-Last-Contact, X-Agent-Stale).
type ReadMeta struct {
	// Index is the applied index the read was served at.
	Index uint64
	// KnownLeader is whether the serving node knew a leader.
	KnownLeader bool
	// LastContact is the time since the serving node heard from the leader
	// (0 on the leader itself, negative when never).
	LastContact time.Duration
	// Stale is true when the read was served from the local copy without
	// checking leadership (?stale): it may be behind the leader.
	Stale bool
}

// OK is the body of successful write and operator calls.
type OK struct {
	OK    bool   `json:"ok"`
	Index uint64 `json:"index,omitempty"`
}

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error string `json:"error"`
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
