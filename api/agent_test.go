package api_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clusteragent/agent/agent/agenttest"
	"github.com/clusteragent/agent/api"
)

// TestAgainstAgent runs the Client against a real in-process agent: a
// one-server cluster on loopback with its store in a temp dir.
func TestAgainstAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real agent")
	}
	cfg := agenttest.Config(t, "solo")
	cfg.BootstrapPreferred = true
	cfg.HTTP.Token = "t0ken"
	n := agenttest.Start(t, cfg)
	agenttest.WaitForConfig(t, 30*time.Second, []*agenttest.Node{n}, []string{"solo"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	bad, err := api.NewClient(api.Config{Address: n.Agent.HTTPAddr(), Token: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Status(ctx); !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("wrong token: %v, want ErrForbidden", err)
	}
	c, err := api.NewClient(api.Config{Address: n.Agent.HTTPAddr(), Token: "t0ken", Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.NodeID != "solo" || st.State != "leader" {
		t.Fatalf("Status = %+v, %v; want solo leading", st, err)
	}

	// A key with a space and a percent sign arrives as written.
	const key = "dir/a b%c"
	w, err := c.KVPut(ctx, key, []byte("v1"), &api.PutOptions{CAS: api.Index(0)})
	if err != nil || !w.OK {
		t.Fatalf("KVPut cas=0: %+v, %v", w, err)
	}
	if _, err := c.KVPut(ctx, key, []byte("v2"), &api.PutOptions{CAS: api.Index(0)}); !errors.Is(err, api.ErrCASFailed) {
		t.Fatalf("second KVPut cas=0: %v, want ErrCASFailed", err)
	}
	list, _, err := c.KVList(ctx, "dir/", nil)
	if err != nil || len(list) != 1 || list[0].Key != key || string(list[0].Value) != "v1" {
		t.Fatalf("KVList = %+v, %v; want only %q = v1", list, err, key)
	}

	// A blocking read answers once the key changes after the index held.
	e, meta, err := c.KVGet(ctx, key, nil)
	if err != nil || e.ModifyIndex != w.Index {
		t.Fatalf("KVGet = %+v, %v", e, err)
	}
	type read struct {
		e   api.KVEntry
		err error
	}
	got := make(chan read, 1)
	go func() {
		e, _, err := c.KVGet(ctx, key, &api.QueryOptions{WaitIndex: meta.Index, WaitTime: 30 * time.Second})
		got <- read{e, err}
	}()
	w2, err := c.KVPut(ctx, key, []byte("v3"), &api.PutOptions{CAS: api.Index(e.ModifyIndex)})
	if err != nil {
		t.Fatalf("KVPut with the right CAS: %v", err)
	}
	select {
	case r := <-got:
		if r.err != nil || string(r.e.Value) != "v3" || r.e.ModifyIndex != w2.Index {
			t.Fatalf("blocking read = %+v, %v; want v3 at %d", r.e, r.err, w2.Index)
		}
	case <-ctx.Done():
		t.Fatal("the blocking read did not answer after the write")
	}

	// Leases: a key attached to a revoked lease is gone.
	lease, err := c.LeaseGrant(ctx, 30*time.Second)
	if err != nil {
		t.Fatalf("LeaseGrant: %v", err)
	}
	if _, err := c.KVPut(ctx, "leased", []byte("x"), &api.PutOptions{Lease: lease.ID}); err != nil {
		t.Fatalf("KVPut with a lease: %v", err)
	}
	if d, err := c.LeaseShow(ctx, lease.ID); err != nil || len(d.Keys) != 1 || d.Keys[0] != "leased" {
		t.Fatalf("LeaseShow = %+v, %v", d, err)
	}
	if _, err := c.LeaseRevoke(ctx, lease.ID); err != nil {
		t.Fatalf("LeaseRevoke: %v", err)
	}
	if _, _, err := c.KVGet(ctx, "leased", nil); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("key of a revoked lease: %v, want ErrNotFound", err)
	}
	if _, err := c.LeaseRenew(ctx, lease.ID); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("renewing a revoked lease: %v, want ErrNotFound", err)
	}

	// A snapshot round trip: save, change, restore, and the change is undone.
	var snap bytes.Buffer
	if _, err := c.SnapshotSave(ctx, &snap, false); err != nil {
		t.Fatalf("SnapshotSave: %v", err)
	}
	if _, err := c.KVDelete(ctx, key, nil); err != nil {
		t.Fatalf("KVDelete: %v", err)
	}
	if _, err := c.SnapshotRestore(ctx, bytes.NewReader(snap.Bytes()), int64(snap.Len()), false); err != nil {
		t.Fatalf("SnapshotRestore: %v", err)
	}
	if e, _, err := c.KVGet(ctx, key, nil); err != nil || string(e.Value) != "v3" {
		t.Fatalf("after the restore: %+v, %v; want v3 back", e, err)
	}
	if _, err := c.SnapshotRestore(ctx, bytes.NewReader([]byte("not a snapshot")), 14, false); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("restoring garbage: %v, want ErrBadRequest", err)
	}

	// Operator calls: an unknown server is a clear 4xx, not a 500.
	if err := c.RaftTransferLeadership(ctx, "node9"); !errors.Is(err, api.ErrBadRequest) && !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("transfer to an unknown server: %v, want a 4xx", err)
	}
	if err := c.RaftRemovePeer(ctx, "node9"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("removing an unknown server: %v, want ErrNotFound", err)
	}
	if conf, err := c.RaftConfiguration(ctx); err != nil || len(conf.Servers) != 1 || !conf.Servers[0].Leader {
		t.Fatalf("RaftConfiguration = %+v, %v", conf, err)
	}
	if ms, err := c.Members(ctx); err != nil || len(ms) != 1 || ms[0].ID != "solo" {
		t.Fatalf("Members = %+v, %v", ms, err)
	}
	if _, err := c.AutopilotHealth(ctx); err != nil {
		t.Fatalf("AutopilotHealth: %v", err)
	}
	if err := c.Reload(ctx); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("Reload without TLS: %v, want ErrBadRequest", err)
	}
	var metrics bytes.Buffer
	if err := c.Metrics(ctx, &metrics); err != nil || !bytes.Contains(metrics.Bytes(), []byte("raft_commit_index")) {
		t.Fatalf("Metrics: %v, %d bytes without raft_commit_index", err, metrics.Len())
	}
}
