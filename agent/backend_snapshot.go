package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/agent/snapshot"
	"github.com/clusteragent/agent/raftnode"
)

var _ httpapi.SnapshotBackend = backend{}

// openArchive takes a snapshot through raft (see raftnode.OpenSnapshot) and
// returns it ready to stream as an archive.
func (a *Agent) openArchive(ctx context.Context, stale bool) (*archive, error) {
	if a.raft == nil {
		return nil, httpapi.ErrNotServer
	}
	if a.kv == nil {
		return nil, fmt.Errorf("%w: snapshots need the key/value state machine", httpapi.ErrBadRequest)
	}
	ss, err := a.raft.OpenSnapshot(ctx, stale)
	if errors.Is(err, raftnode.ErrNoState) {
		return nil, fmt.Errorf("%w: %v", httpapi.ErrUnavailable, err)
	}
	if err != nil {
		return nil, mapRaftErr(err)
	}
	meta := snapshot.Meta{Index: ss.Index, Term: ss.Term, ClusterID: ss.ClusterID, NodeID: a.NodeID(),
		CreatedAt: time.Now().UTC(), StateSize: ss.Size, AgentVersion: Version}
	return &archive{meta: meta, body: ss.Body}, nil
}

// archive is an open snapshot; WriteTo streams it once as an archive.
type archive struct {
	meta snapshot.Meta
	body io.ReadCloser
}

func (ar *archive) Index() uint64 { return ar.meta.Index }
func (ar *archive) Close() error  { return ar.body.Close() }

// WriteTo writes the archive; the count is not tracked (nobody needs it).
func (ar *archive) WriteTo(w io.Writer) (int64, error) {
	_, err := snapshot.Write(w, ar.meta, ar.body)
	return 0, err
}

func (b backend) SnapshotSave(ctx context.Context, stale bool) (httpapi.SnapshotArchive, error) {
	return b.a.openArchive(ctx, stale)
}

func (b backend) SnapshotRestore(ctx context.Context, body io.Reader, force bool) (httpapi.SnapshotRestored, error) {
	return b.a.restoreArchive(ctx, body, force)
}

// restoreArchive spools body to a file in the data dir, verifies all of it
// (checksum, format, the state's own checks, the cluster ID), and only
// then hands the state to raft. Nothing changes on any error before the
// hand-over; raft's restore itself is all or nothing too.
func (a *Agent) restoreArchive(ctx context.Context, body io.Reader, force bool) (httpapi.SnapshotRestored, error) {
	var out httpapi.SnapshotRestored
	if a.raft == nil {
		return out, httpapi.ErrNotServer
	}
	if a.kv == nil {
		return out, fmt.Errorf("%w: snapshots need the key/value state machine", httpapi.ErrBadRequest)
	}
	if !a.raft.IsLeader() {
		return out, httpapi.ErrNotLeader
	}
	f, err := os.CreateTemp(a.cfg.DataDir, "restore-*.snap.tmp")
	if err != nil {
		return out, fmt.Errorf("spool the snapshot: %w", err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	if _, err := io.Copy(f, body); err != nil {
		return out, fmt.Errorf("receive the snapshot: %w", err)
	}
	info, err := verifyFile(f)
	if err != nil {
		return out, err
	}
	if err := snapshot.CheckCluster(info.ClusterID, a.ClusterID(), force); err != nil {
		return out, fmt.Errorf("%w: %v", httpapi.ErrConflict, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return out, err
	}
	rd, err := snapshot.Open(f)
	if err != nil {
		return out, fmt.Errorf("%w: %v", httpapi.ErrBadRequest, err)
	}
	a.logger.Info("restoring a snapshot", "index", info.Index, "term", info.Term, "keys", info.Keys,
		"from_cluster", info.ClusterID, "forced", force)
	if err := a.raft.RestoreSnapshot(ctx, info.Index, info.Term, info.StateSize, rd.State()); err != nil {
		return out, mapRaftErr(err)
	}
	// Restored leases start their full TTL now, as after a leader change:
	// the keeper's deadlines belong to the state that was replaced.
	a.leases.restart(time.Now(), a.kv.View().Leases())
	a.logger.Info("snapshot restored", "index", info.Index, "applied_index", a.raft.AppliedIndex())
	return httpapi.SnapshotRestored{Index: info.Index, Term: info.Term, Keys: info.Keys, ClusterID: info.ClusterID,
		AppliedIndex: a.raft.AppliedIndex()}, nil
}

// verifyFile verifies the archive in f from its start; a bad archive is
// ErrBadRequest.
func verifyFile(f *os.File) (snapshot.Info, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return snapshot.Info{}, err
	}
	info, err := snapshot.Verify(f)
	if errors.Is(err, snapshot.ErrCorrupt) || errors.Is(err, snapshot.ErrUnsupported) {
		return info, fmt.Errorf("%w: %v; nothing was restored", httpapi.ErrBadRequest, err)
	}
	return info, err
}
