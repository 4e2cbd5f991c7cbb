package raftnode

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// The cluster ID travels through the Raft log, not beside it: a leader
// proposes it once, and every node learns it by applying the committed
// entry. Anything else can split one cluster into two IDs: a first leader
// that chose an ID and was cut off before telling anyone would be replaced
// by a leader that chooses another, and both would persist theirs. Through
// the log, an ID exists only once a quorum has it, and any later leader has
// applied it before it serves.
//
// The entry is a LogCommand whose data starts with clusterIDPrefix; metaFSM
// applies it and hands every other entry to the user's FSM. Data passed to
// ApplyBytes must therefore not start with this prefix (an encoded Mutation
// never does: it starts with command.BinaryMagic, or '{' if an earlier version
// wrote it).
var clusterIDPrefix = []byte("\x00raftnode.cluster-id\x00")

// snapshotMagic starts a snapshot written by metaFSM: the cluster ID, then
// the user's snapshot. Snapshots without it (written before) go to the
// user's Restore unchanged.
var snapshotMagic = []byte("RNMETA1\n")

// maxClusterIDLen bounds the ID read from a snapshot.
const maxClusterIDLen = 256

// metaFSM wraps the user's FSM with the cluster ID. Apply, Snapshot and
// Restore follow raft's FSM contract (Apply and Snapshot on one goroutine,
// Persist concurrently).
type metaFSM struct {
	user      raft.FSM
	clusterID atomic.Pointer[string]
}

func newMetaFSM(user raft.FSM) *metaFSM { return &metaFSM{user: user} }

func (m *metaFSM) id() string {
	if p := m.clusterID.Load(); p != nil {
		return *p
	}
	return ""
}

var _ raft.BatchingFSM = (*metaFSM)(nil)

// Apply applies a cluster-ID entry itself and hands everything else on.
func (m *metaFSM) Apply(l *raft.Log) interface{} {
	if isClusterIDEntry(l) {
		return m.applyClusterID(l)
	}
	return m.user.Apply(l)
}

// ApplyBatch hands a committed batch to the user's FSM: whole runs between
// cluster-ID entries if it implements raft.BatchingFSM (group commit then
// reaches the state machine too), one command at a time through Apply
// otherwise, exactly as raft would call a plain FSM (configuration entries,
// which raft sends only to batching FSMs, answer nil).
func (m *metaFSM) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	batcher, batching := m.user.(raft.BatchingFSM)
	from := 0
	flush := func(to int) {
		if from >= to {
			return
		}
		if !batching {
			for i := from; i < to; i++ {
				if logs[i].Type == raft.LogCommand {
					out[i] = m.user.Apply(logs[i])
				}
			}
			return
		}
		res := batcher.ApplyBatch(logs[from:to])
		if len(res) != to-from {
			panic(fmt.Sprintf("raftnode: the FSM's ApplyBatch returned %d responses for %d entries", len(res), to-from))
		}
		copy(out[from:to], res)
	}
	for i, l := range logs {
		if isClusterIDEntry(l) {
			flush(i)
			out[i] = m.applyClusterID(l)
			from = i + 1
		}
	}
	flush(len(logs))
	return out
}

func isClusterIDEntry(l *raft.Log) bool {
	return l.Type == raft.LogCommand && bytes.HasPrefix(l.Data, clusterIDPrefix)
}

// applyClusterID: the first cluster-ID entry wins; later ones are no-ops
// that answer the ID in force.
func (m *metaFSM) applyClusterID(l *raft.Log) interface{} {
	if cur := m.id(); cur != "" {
		return cur
	}
	id := string(l.Data[len(clusterIDPrefix):])
	m.clusterID.Store(&id)
	return id
}

func (m *metaFSM) Snapshot() (raft.FSMSnapshot, error) {
	inner, err := m.user.Snapshot()
	if err != nil {
		return nil, err
	}
	return &metaSnapshot{clusterID: m.id(), inner: inner}, nil
}

// Restore reads the cluster ID header, when present, and streams the rest
// to the user's FSM.
func (m *metaFSM) Restore(rc io.ReadCloser) error {
	br := bufio.NewReaderSize(rc, 64<<10)
	head, err := br.Peek(len(snapshotMagic))
	if err == nil && bytes.Equal(head, snapshotMagic) {
		if _, err := br.Discard(len(snapshotMagic)); err != nil {
			rc.Close()
			return err
		}
		n, err := binary.ReadUvarint(br)
		if err != nil || n > maxClusterIDLen {
			rc.Close()
			return fmt.Errorf("raftnode: snapshot header: bad cluster ID length (%v)", err)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(br, buf); err != nil {
			rc.Close()
			return fmt.Errorf("raftnode: snapshot header: %w", err)
		}
		id := string(buf)
		if err := m.user.Restore(readCloser{br, rc}); err != nil {
			return err
		}
		m.clusterID.Store(&id)
		return nil
	}
	return m.user.Restore(readCloser{br, rc})
}

type readCloser struct {
	io.Reader
	io.Closer
}

type metaSnapshot struct {
	clusterID string
	inner     raft.FSMSnapshot
}

// Persist writes the header, then lets the user's snapshot write (and close
// or cancel) the sink.
func (s *metaSnapshot) Persist(sink raft.SnapshotSink) error {
	var hdr []byte
	hdr = append(hdr, snapshotMagic...)
	hdr = binary.AppendUvarint(hdr, uint64(len(s.clusterID)))
	hdr = append(hdr, s.clusterID...)
	if _, err := sink.Write(hdr); err != nil {
		sink.Cancel()
		return fmt.Errorf("raftnode: write snapshot header: %w", err)
	}
	return s.inner.Persist(sink)
}

func (s *metaSnapshot) Release() { s.inner.Release() }

// ClusterID returns the cluster ID this node has applied from the log, or
// "" when none has been committed (or this node has not caught up yet).
func (n *Node) ClusterID() string { return n.meta.id() }

// InitClusterID proposes id as the cluster's ID and returns the ID in force
// once the entry is applied: id itself, or the ID an earlier entry already
// set (the first committed entry wins). Leader only.
func (n *Node) InitClusterID(ctx context.Context, id string) (string, error) {
	if id == "" || len(id) > maxClusterIDLen {
		return "", fmt.Errorf("%w: cluster ID must be 1 to %d bytes", ErrInvalidArgument, maxClusterIDLen)
	}
	if cur := n.ClusterID(); cur != "" {
		return cur, nil
	}
	res, err := n.Propose(ctx, append(append([]byte(nil), clusterIDPrefix...), id...))
	if err != nil {
		return "", err
	}
	got, ok := res.Response.(string)
	if !ok {
		return "", fmt.Errorf("raftnode: unexpected cluster ID response %T", res.Response)
	}
	return got, nil
}
