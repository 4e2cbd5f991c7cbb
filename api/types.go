package api

import "time"

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

// ReadMeta describes how fresh a read is; the server sends it as headers
// (HeaderIndex, HeaderKnownLeader, HeaderLastContact, HeaderStale) and
// the Client decodes them into it.
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

// Read-freshness headers on every KV read, so a client can tell how old a
// stale answer may be.
const (
	HeaderIndex       = "X-Agent-Index"
	HeaderKnownLeader = "X-Agent-Known-Leader"
	HeaderLastContact = "X-Agent-Last-Contact" // milliseconds; -1 when never
	HeaderStale       = "X-Agent-Stale"
)

// KeyringRequest is the body of POST /v1/agent/keyring/{install,use,remove}.
// Key is a secret: it is never logged nor echoed in an error.
type KeyringRequest struct {
	Key string `json:"key"`
}

// KeyringResponse is the answer of the keyring endpoints: what every live
// member did.
type KeyringResponse struct {
	Op string `json:"op"`
	// Fingerprint names the key given (install, use, remove): the first 8
	// hex digits of its SHA-256.
	Fingerprint string `json:"fingerprint,omitempty"`
	// NumNodes is how many members were asked, the answering agent included.
	NumNodes int `json:"num_nodes"`
	// Keys (list) is every key some member holds, the most used first.
	Keys []KeyringKey `json:"keys"`
	// Nodes is each member's answer, sorted by ID.
	Nodes []KeyringNode `json:"nodes"`
}

// KeyringKey is one key of a list answer.
type KeyringKey struct {
	// Key is the base64 key when the answering agent holds it, else "".
	Key         string `json:"key,omitempty"`
	Fingerprint string `json:"fingerprint"`
	// Members is how many members hold the key.
	Members int `json:"members"`
	// PrimaryOn lists the members that encrypt with it.
	PrimaryOn []string `json:"primary_on"`
}

// KeyringNode is one member's answer.
type KeyringNode struct {
	ID    string `json:"id"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Encrypted, Primary and Keys (fingerprints, primary first) are set by list.
	Encrypted bool     `json:"encrypted"`
	Primary   string   `json:"primary,omitempty"`
	Keys      []string `json:"keys,omitempty"`
}

// LeaseInfo is the answer to POST /v1/lease and PUT /v1/lease/{id}/renew.
type LeaseInfo struct {
	// ID is the lease's ID (decimal): the log index of its grant.
	ID string `json:"id"`
	// TTL is a Go duration string.
	TTL string `json:"ttl"`
}

// LeaseDetail is the answer to GET /v1/lease/{id}.
type LeaseDetail struct {
	ID  string `json:"id"`
	TTL string `json:"ttl"`
	// Remaining is how long the lease has left as the leader sees it.
	Remaining string `json:"remaining"`
	// Keys are the keys attached to it, sorted.
	Keys []string `json:"keys"`
}

// SnapshotRestored answers a restore.
type SnapshotRestored struct {
	// Index and Term are the snapshot's, as taken.
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	// Keys is the number of keys restored.
	Keys uint64 `json:"keys"`
	// ClusterID is the cluster the snapshot came from.
	ClusterID string `json:"cluster_id"`
	// AppliedIndex is the Raft index the restore committed at.
	AppliedIndex uint64 `json:"applied_index"`
}
