package discovery

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/bits"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/memberlist"
)

// Keyring requests and replies travel as memberlist user messages sent with
// SendReliable (a TCP stream, encrypted with the sender's primary key like
// all gossip). The first byte says which of the two follows; the rest is
// JSON. Requests carry a random ID that the reply repeats.
const (
	msgKeyringRequest byte = 'K'
	msgKeyringReply   byte = 'k'
)

const (
	// keyringProtoVersion is the version of the request and reply bodies.
	keyringProtoVersion = 1
	// maxKeyringMsgSize bounds a message: a reply lists a few key hashes.
	maxKeyringMsgSize = 64 << 10
	// keyringQueueSize is how many messages of each kind wait for the
	// workers; more are dropped (the requester then reports no answer).
	keyringQueueSize = 64
	// maxRemoteErrorLen bounds an error text a member sends back.
	maxRemoteErrorLen = 300
)

// keyringRequest asks a member to apply one keyring operation.
type keyringRequest struct {
	Version int    `json:"v"`
	ID      string `json:"id"`
	From    string `json:"from"`
	// ClusterID is the requester's current cluster ID; members of another
	// cluster, and a requester whose gossiped metadata says otherwise, are
	// refused.
	ClusterID string `json:"cluster_id"`
	Op        KeyOp  `json:"op"`
	// Key is the base64 key, sent only for install: use and remove name the
	// key by KeyHash so they never put key material on the wire.
	Key     string `json:"key,omitempty"`
	KeyHash string `json:"key_hash,omitempty"`
}

// keyringReply is a member's answer. For list it carries key hashes, never
// keys, primary first.
type keyringReply struct {
	Version   int      `json:"v"`
	ID        string   `json:"id"`
	From      string   `json:"from"`
	Error     string   `json:"error,omitempty"`
	Encrypted bool     `json:"encrypted,omitempty"`
	Keys      []string `json:"keys,omitempty"`
}

// keyringQueries holds the inbound queues and the operations waiting for
// replies.
type keyringQueries struct {
	requests chan []byte
	replies  chan []byte
	dropped  atomic.Uint64

	mu      sync.Mutex
	pending map[string]*pendingOp
}

// pendingOp collects the replies to one request.
type pendingOp struct {
	targets map[string]bool
	ch      chan keyringReply
}

func newKeyringQueries() *keyringQueries {
	return &keyringQueries{
		requests: make(chan []byte, keyringQueueSize),
		replies:  make(chan []byte, keyringQueueSize),
		pending:  make(map[string]*pendingOp),
	}
}

// enqueueUserMsg is NotifyMsg's body: it runs on memberlist's goroutines, so
// it only copies the message and hands it to a worker without blocking.
func (g *Gossip) enqueueUserMsg(b []byte) {
	if len(b) == 0 || len(b) > maxKeyringMsgSize {
		return
	}
	var ch chan []byte
	switch b[0] {
	case msgKeyringRequest:
		ch = g.queries.requests
	case msgKeyringReply:
		ch = g.queries.replies
	default:
		return // a newer agent's message: ignore it
	}
	select {
	case ch <- slices.Clone(b[1:]):
	default:
		// Warn on the 1st, 2nd, 4th, 8th... drop: visible, never a flood.
		if n := g.queries.dropped.Add(1); bits.OnesCount64(n) == 1 {
			g.logger.Warn("keyring message queue full, dropping messages", "dropped_total", n)
		}
	}
}

// keyringWorkers starts the request and reply workers. Replies have their
// own worker so a slow answer to one request never delays collecting
// another's replies.
func (g *Gossip) keyringWorkers() {
	g.wg.Add(2)
	go g.drain(g.queries.requests, g.serveKeyringRequest)
	go g.drain(g.queries.replies, g.deliverKeyringReply)
}

func (g *Gossip) drain(ch <-chan []byte, handle func([]byte)) {
	defer g.wg.Done()
	for {
		select {
		case <-g.ctx.Done():
			return
		case b := <-ch:
			handle(b)
		}
	}
}

// serveKeyringRequest applies a member's request here and answers it.
func (g *Gossip) serveKeyringRequest(b []byte) {
	var req keyringRequest
	if err := json.Unmarshal(b, &req); err != nil {
		g.logger.Warn("dropping malformed keyring request", "error", describeJSONError(err))
		return
	}
	if req.ID == "" || req.From == "" {
		g.logger.Warn("dropping keyring request without an ID or a sender", "peer", req.From)
		return
	}
	if req.From == g.cfg.NodeID {
		return
	}
	sender, ok := g.liveMember(req.From)
	if !ok {
		g.logger.Warn("dropping keyring request from a node that is not a live member", "peer", req.From)
		return
	}
	reply := keyringReply{Version: keyringProtoVersion, ID: req.ID, From: g.cfg.NodeID}
	if err := g.admitKeyringRequest(req, sender.Meta); err != nil {
		g.refusals.warn("keyring:"+req.From, "refusing keyring request", "peer", req.From, "error", err)
		reply.Error = err.Error()
	} else {
		reply = g.applyKeyringRequest(req)
	}
	if err := g.send(sender, msgKeyringReply, reply); err != nil {
		g.logger.Warn("could not answer a keyring request", "peer", req.From, "error", err)
	}
}

// admitKeyringRequest accepts requests only from this node's cluster: the
// request must carry the cluster ID the sender gossips, and it must be this
// node's. A node with no cluster ID yet (a gossip-only member, a fresh
// server) is part of whatever pool it joined, as in admit.
func (g *Gossip) admitKeyringRequest(req keyringRequest, sender Meta) error {
	if req.Version != keyringProtoVersion {
		return fmt.Errorf("keyring request version %d; this agent speaks version %d", req.Version, keyringProtoVersion)
	}
	if req.ClusterID != sender.ClusterID {
		return fmt.Errorf("%w: the request names cluster %q but %s gossips cluster %q",
			ErrClusterMismatch, req.ClusterID, req.From, sender.ClusterID)
	}
	local := g.meta.Load().meta.ClusterID
	if local != "" && req.ClusterID != local {
		if req.ClusterID == "" {
			return fmt.Errorf("%w: the request carries no cluster ID; this node belongs to cluster %q (run keyring commands on a server of the cluster)",
				ErrClusterMismatch, local)
		}
		return fmt.Errorf("%w: the request is for cluster %q; this node belongs to cluster %q", ErrClusterMismatch, req.ClusterID, local)
	}
	return nil
}

// applyKeyringRequest runs one operation on this node's keyring.
func (g *Gossip) applyKeyringRequest(req keyringRequest) keyringReply {
	reply := keyringReply{Version: keyringProtoVersion, ID: req.ID, From: g.cfg.NodeID}
	var err error
	switch req.Op {
	case KeyOpList:
		_, reply.Keys = g.keys.hashes()
		reply.Encrypted = len(reply.Keys) > 0
	case KeyOpInstall:
		var key []byte
		if key, err = ParseKey(req.Key); err == nil {
			err = g.keys.install(key)
		}
	case KeyOpUse:
		err = g.keys.use(req.KeyHash)
	case KeyOpRemove:
		err = g.keys.remove(req.KeyHash)
	default:
		err = fmt.Errorf("unknown keyring operation %q", req.Op)
	}
	if err != nil {
		reply.Error = strings.TrimPrefix(err.Error(), "discovery: ")
	}
	return reply
}

// deliverKeyringReply hands a reply to the operation waiting for it.
func (g *Gossip) deliverKeyringReply(b []byte) {
	var rep keyringReply
	if err := json.Unmarshal(b, &rep); err != nil {
		g.logger.Debug("dropping malformed keyring reply", "error", describeJSONError(err))
		return
	}
	g.queries.mu.Lock()
	p := g.queries.pending[rep.ID]
	g.queries.mu.Unlock()
	if p == nil || !p.targets[rep.From] {
		g.logger.Debug("dropping keyring reply nobody waits for", "peer", rep.From)
		return
	}
	select {
	case p.ch <- rep:
	default: // the collector has what it needs
	}
}

// liveMember returns an alive or suspect member from the member table,
// which holds copies (memberlist's own nodes must not be read outside its
// lock).
func (g *Gossip) liveMember(id string) (Member, bool) {
	m, ok := g.Member(id)
	return m, ok && (m.Status == StatusAlive || m.Status == StatusSuspect)
}

// send encodes msg after its type byte and streams it to m.
func (g *Gossip) send(m Member, typ byte, msg any) error {
	host, portStr, err := net.SplitHostPort(m.Addr)
	if err != nil {
		return fmt.Errorf("member %s has address %q: %w", m.ID, m.Addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return fmt.Errorf("member %s has address %q: bad port", m.ID, m.Addr)
	}
	var buf bytes.Buffer
	buf.WriteByte(typ)
	if err := json.NewEncoder(&buf).Encode(msg); err != nil {
		return err
	}
	node := &memberlist.Node{Name: m.ID, Addr: net.ParseIP(host), Port: uint16(port)}
	return g.ml.SendReliable(node, buf.Bytes())
}

// roundTrip sends req to every target and collects their replies until all
// answered or ctx ends. Every target has an entry in the result: a failed
// send or a missing answer becomes a reply with Error set.
func (g *Gossip) roundTrip(ctx context.Context, req keyringRequest, targets []Member) map[string]keyringReply {
	out := make(map[string]keyringReply, len(targets))
	if len(targets) == 0 {
		return out
	}
	req.ID = newRequestID()
	p := &pendingOp{targets: make(map[string]bool, len(targets)), ch: make(chan keyringReply, 2*len(targets))}
	for _, m := range targets {
		p.targets[m.ID] = true
	}
	g.queries.mu.Lock()
	g.queries.pending[req.ID] = p
	g.queries.mu.Unlock()
	defer func() {
		g.queries.mu.Lock()
		delete(g.queries.pending, req.ID)
		g.queries.mu.Unlock()
	}()
	for _, m := range targets {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			if err := g.send(m, msgKeyringRequest, req); err != nil {
				select {
				case p.ch <- keyringReply{ID: req.ID, From: m.ID, Error: "could not send the request: " + err.Error()}:
				default: // full only of bogus replies; collect reports no answer
				}
			}
		}()
	}
	g.collect(ctx, p, out)
	return out
}

// collect gathers one reply per target into out. When ctx or the node
// ends, replies already queued still count; the rest are marked missing.
func (g *Gossip) collect(ctx context.Context, p *pendingOp, out map[string]keyringReply) {
	record := func(rep keyringReply) {
		if _, dup := out[rep.From]; !dup {
			rep.Error = truncate(rep.Error, maxRemoteErrorLen)
			out[rep.From] = rep
		}
	}
	missing := ""
	for len(out) < len(p.targets) && missing == "" {
		select {
		case rep := <-p.ch:
			record(rep)
		case <-ctx.Done():
			missing = "no answer before the deadline"
		case <-g.ctx.Done():
			missing = "this node is shutting down"
		}
	}
	for drained := false; !drained; {
		select {
		case rep := <-p.ch:
			record(rep)
		default:
			drained = true
		}
	}
	for id := range p.targets {
		if _, ok := out[id]; !ok {
			out[id] = keyringReply{From: id, Error: missing}
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
