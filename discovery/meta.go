package discovery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"

	"github.com/hashicorp/memberlist"
)

// Role says whether a node takes part in Raft.
type Role string

const (
	// RoleServer nodes are Raft voters or non-voters.
	RoleServer Role = "server"
	// RoleClient nodes only take part in gossip.
	RoleClient Role = "client"
)

// MaxMetaSize is the largest encoded Meta memberlist can carry.
const MaxMetaSize = memberlist.MetaMaxSize

// metaVersion1 is the first byte of every encoded Meta. A new version is only
// needed for an incompatible change: new optional keys are ignored by old
// decoders, so they can be added under version 1.
const metaVersion1 byte = 1

// Per-field limits. They are tighter than what MaxMetaSize alone would allow so
// that a mistake (a huge zone name) is reported against the field, not as an
// anonymous size overflow.
const (
	maxIDLen      = 128
	maxClusterLen = 64
	maxAddrLen    = 128
	maxZoneLen    = 64
	maxVersionLen = 64
)

// Meta is gossiped in memberlist node metadata. It must encode to at most
// MaxMetaSize bytes; EncodeMeta reports which field is at fault otherwise.
type Meta struct {
	// ID is the node ID, also the memberlist node name and the Raft server ID.
	ID string
	// ClusterID is "" until this node belongs to a cluster. Two nodes with
	// different non-empty cluster IDs refuse each other (see package doc).
	ClusterID string
	// RaftAddr is the Raft host:port ("" for clients).
	RaftAddr string
	// HTTPAddr is the host:port of the agent HTTP API.
	HTTPAddr string
	// Role is server or client.
	Role Role
	// Zone is the failure domain used to spread voters.
	Zone string
	// Version is the agent version.
	Version string
	// HasState is true when the node has Raft state on disk.
	HasState bool
	// Features is a bit set of the optional capabilities of this node's
	// version, such as the log commands it can apply; the agent assigns
	// the bits. A node gossiping none is an older version: a leader
	// proposes a command that needs a feature only once every server
	// advertises it.
	Features uint64
}

// wireMeta is the version 1 layout. Short keys keep the payload small: the
// whole record must fit in MaxMetaSize bytes together with long addresses.
type wireMeta struct {
	ID        string `json:"i"`
	ClusterID string `json:"c,omitempty"`
	RaftAddr  string `json:"r,omitempty"`
	HTTPAddr  string `json:"h,omitempty"`
	Role      Role   `json:"o,omitempty"`
	Zone      string `json:"z,omitempty"`
	Version   string `json:"v,omitempty"`
	HasState  bool   `json:"s,omitempty"`
	Features  uint64 `json:"f,omitempty"`
	// Leaving is set by a node about to leave gracefully. memberlist v0.7.0
	// does not tell its event delegate whether a node left or failed
	// (Node.State is not filled in), so peers tell the two apart by this
	// flag, broadcast before the leave itself, as serf does with its leave
	// intent. It is not part of Meta: it describes the gossip member, not
	// the node.
	Leaving bool `json:"l,omitempty"`
	// Instance and Started identify one run of the agent: a random nonce
	// and the wall-clock start in Unix nanoseconds, both drawn when the
	// Gossip is created. Two processes claiming one node ID (a copied data
	// dir) are told apart by them, and Started says which came later (see
	// conflict.go). Like Leaving they describe the gossip member, not the
	// node, so they are not part of Meta.
	Instance string `json:"n,omitempty"`
	Started  int64  `json:"t,omitempty"`
}

// wireExtra is what the gossip layer adds to a node's Meta on the wire.
type wireExtra struct {
	Leaving  bool
	Instance string
	Started  int64
}

func toWire(m Meta, x wireExtra) wireMeta {
	return wireMeta{ID: m.ID, ClusterID: m.ClusterID, RaftAddr: m.RaftAddr, HTTPAddr: m.HTTPAddr,
		Role: m.Role, Zone: m.Zone, Version: m.Version, HasState: m.HasState, Features: m.Features, Leaving: x.Leaving,
		Instance: x.Instance, Started: x.Started}
}

func (w wireMeta) meta() Meta {
	return Meta{ID: w.ID, ClusterID: w.ClusterID, RaftAddr: w.RaftAddr, HTTPAddr: w.HTTPAddr,
		Role: w.Role, Zone: w.Zone, Version: w.Version, HasState: w.HasState, Features: w.Features}
}

// Validate checks each field's limits and form; errors name the field.
func (m Meta) Validate() error {
	if m.ID == "" {
		return metaFieldErr("ID", "is empty")
	}
	checks := []struct {
		field string
		value string
		max   int
	}{
		{"ID", m.ID, maxIDLen},
		{"ClusterID", m.ClusterID, maxClusterLen},
		{"RaftAddr", m.RaftAddr, maxAddrLen},
		{"HTTPAddr", m.HTTPAddr, maxAddrLen},
		{"Zone", m.Zone, maxZoneLen},
		{"Version", m.Version, maxVersionLen},
	}
	for _, c := range checks {
		if len(c.value) > c.max {
			return metaFieldErr(c.field, "is %d bytes, at most %d allowed", len(c.value), c.max)
		}
	}
	for _, a := range []struct{ field, value string }{{"RaftAddr", m.RaftAddr}, {"HTTPAddr", m.HTTPAddr}} {
		if a.value == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.value); err != nil {
			return metaFieldErr(a.field, "%q is not host:port: %v", a.value, err)
		}
	}
	switch m.Role {
	case "", RoleServer, RoleClient:
	default:
		return metaFieldErr("Role", "%q is not %q or %q", m.Role, RoleServer, RoleClient)
	}
	return nil
}

func metaFieldErr(field, format string, args ...any) error {
	return newFieldError(ErrInvalidMeta, "Meta."+field, format, args...)
}

// EncodeMeta validates m and encodes it as a version byte followed by compact
// JSON. It fails with ErrMetaTooLarge when the result exceeds MaxMetaSize.
func EncodeMeta(m Meta) ([]byte, error) { return encodeMeta(m, wireExtra{}) }

func encodeMeta(m Meta, x wireExtra) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteByte(metaVersion1)
	enc := json.NewEncoder(&buf)
	// HTML escaping would turn one byte into six and make the size limit
	// depend on which characters a zone name happens to use.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(toWire(m, x)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidMeta, err)
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(out) > MaxMetaSize {
		return nil, newFieldError(ErrMetaTooLarge, "Meta", "encodes to %d bytes, at most %d allowed (shorten Zone, Version or the addresses)",
			len(out), MaxMetaSize)
	}
	return out, nil
}

// DecodeMeta decodes what EncodeMeta produced. It treats its input as hostile
// (it arrives from the network) and never panics. Unknown keys are ignored so
// that newer agents can add optional fields.
func DecodeMeta(b []byte) (Meta, error) {
	w, err := decodeWire(b)
	return w.meta(), err
}

func decodeWire(b []byte) (wireMeta, error) {
	switch {
	case len(b) == 0:
		return wireMeta{}, fmt.Errorf("%w: empty", ErrInvalidMeta)
	case len(b) > MaxMetaSize:
		return wireMeta{}, fmt.Errorf("%w: %d bytes, at most %d allowed", ErrInvalidMeta, len(b), MaxMetaSize)
	case b[0] != metaVersion1:
		return wireMeta{}, fmt.Errorf("%w: unknown version %d (this agent reads version %d)", ErrInvalidMeta, b[0], metaVersion1)
	}
	var w wireMeta
	if err := json.Unmarshal(b[1:], &w); err != nil {
		return wireMeta{}, fmt.Errorf("%w: %v", ErrInvalidMeta, err)
	}
	if w.ID == "" {
		return wireMeta{}, fmt.Errorf("%w: missing node ID", ErrInvalidMeta)
	}
	return w, nil
}
