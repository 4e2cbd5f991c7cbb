package raftnode

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// StateSnapshot is a point-in-time copy of the replicated state, open for
// reading: the user FSM's snapshot stream without this package's cluster-ID
// header, which is reported beside it instead.
type StateSnapshot struct {
	// Index and Term are the Raft position the state was taken at.
	Index, Term uint64
	// ClusterID is the cluster ID the state carried ("" if none yet).
	ClusterID string
	// Size is the length of the user FSM's stream, in bytes.
	Size int64
	// Body streams the user FSM's snapshot; Close it.
	Body io.ReadCloser
}

// ErrNoState: this node has applied nothing yet, so there is nothing to
// snapshot.
var ErrNoState = errors.New("raftnode: no state to snapshot yet")

// OpenSnapshot takes a snapshot of the state machine through raft (the
// snapshot raft would take on its own, also written to its snapshot store)
// and opens it. Unless stale, it first makes sure this node leads and has
// applied every committed entry (a linearizable read), so the snapshot
// holds every write acknowledged before the call; a follower answers a
// *NotLeaderError. With stale, any server answers from what it applied.
func (n *Node) OpenSnapshot(ctx context.Context, stale bool) (*StateSnapshot, error) {
	if !stale {
		if err := n.LinearizableRead(ctx); err != nil {
			return nil, err
		}
	}
	f, err := n.do(ctx, func(time.Duration) raft.Future { return n.raft.Snapshot() })
	if err != nil {
		if errors.Is(err, raft.ErrNothingNewToSnapshot) {
			return nil, ErrNoState
		}
		return nil, err
	}
	meta, rc, err := f.(raft.SnapshotFuture).Open()
	if err != nil {
		return nil, fmt.Errorf("raftnode: open the snapshot: %w", err)
	}
	br := bufio.NewReaderSize(rc, 64<<10)
	id, hdrLen, err := readMetaHeader(br)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return &StateSnapshot{Index: meta.Index, Term: meta.Term, ClusterID: id, Size: meta.Size - hdrLen,
		Body: readCloser{br, rc}}, nil
}

// readMetaHeader reads metaFSM's header, if the stream has one, and
// returns the cluster ID and the header's length.
func readMetaHeader(br *bufio.Reader) (string, int64, error) {
	head, err := br.Peek(len(snapshotMagic))
	if err != nil || !bytes.Equal(head, snapshotMagic) {
		return "", 0, nil // written before the header existed
	}
	_, _ = br.Discard(len(snapshotMagic))
	n, err := binary.ReadUvarint(br)
	if err != nil || n > maxClusterIDLen {
		return "", 0, fmt.Errorf("raftnode: snapshot header: bad cluster ID length (%v)", err)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(br, buf); err != nil {
		return "", 0, fmt.Errorf("raftnode: snapshot header: %w", err)
	}
	return string(buf), int64(len(snapshotMagic) + binary.PutUvarint(make([]byte, binary.MaxVarintLen64), n) + int(n)), nil
}

// RestoreSnapshot replaces the cluster's state with size bytes of the user
// FSM's snapshot stream from state, taken at index and term in whatever
// cluster. Leader only (*NotLeaderError elsewhere). The cluster keeps its
// own ID: the header written ahead of the stream names this cluster, not
// the snapshot's. Raft installs it in its snapshot store, restores this
// FSM, and makes followers install it too; the call returns once an entry
// after it has committed, so a quorum holds the restored state.
//
// The stream must be one the FSM accepts: raft treats an FSM that refuses
// a restore as fatal, so check the stream first (kv.ScanSnapshot).
func (n *Node) RestoreSnapshot(ctx context.Context, index, term uint64, size int64, state io.Reader) error {
	if !n.IsLeader() {
		return n.notLeader()
	}
	id := n.ClusterID()
	hdr := append([]byte(nil), snapshotMagic...)
	hdr = binary.AppendUvarint(hdr, uint64(len(id)))
	hdr = append(hdr, id...)
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: index, Term: term, Size: int64(len(hdr)) + size}
	body := io.MultiReader(bytes.NewReader(hdr), io.LimitReader(state, size))
	for {
		_, err := n.do(ctx, func(timeout time.Duration) raft.Future {
			return errFuture{n.raft.Restore(meta, body, timeout)}
		})
		if err == nil || !configChangePending(err) {
			return err
		}
		// Raft refuses while a configuration change (an autopilot
		// promotion, say) is uncommitted, before it reads anything, so
		// trying again shortly is safe.
		select {
		case <-ctx.Done():
			return fmt.Errorf("raftnode: %w while a configuration change was pending: %v", ctx.Err(), err)
		case <-n.closing:
			return ErrClosed
		case <-time.After(pollInterval):
		}
	}
}

// configChangePending recognises raft's refusal to restore while a
// configuration entry is uncommitted; raft has no sentinel for it.
func configChangePending(err error) bool {
	return strings.Contains(err.Error(), "cannot restore snapshot now")
}

// errFuture is a raft.Future that is already done.
type errFuture struct{ err error }

func (f errFuture) Error() error { return f.err }
