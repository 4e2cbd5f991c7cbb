package raftnode

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft-wal/types"

	"github.com/clusteragent/agent/internal/testutil"
)

// TestFailedRotationRecoversInPlace fills segments while new ones cannot
// be created: raft-wal seals the full segment, fails to create the next and
// then refuses every append with ErrSealed. Once creates work again the
// same node must write again without a restart (healingWAL reopens the
// WAL), keeping every acknowledged write.
func TestFailedRotationRecoversInPlace(t *testing.T) {
	t.Parallel()
	v := &diskFullVFS{}
	o := baseOptions(t, "rot")
	o.LogStore, o.BootstrapPreferred = LogStoreWAL, true
	o.WALSegmentSize = MinWALSegmentSize
	o.wrapVFS = func(inner types.VFS) types.VFS { v.VFS = inner; return v }
	n := startNode(t, o)
	waitLeader(t, n)
	acked := applyAcked(t, []*testNode{n}, "before", 5)

	v.noCreate.Store(true)
	payload := strings.Repeat("p", 2<<10)
	var failure error
	for i := 0; i < 200 && failure == nil; i++ { // 200 x 2 KiB fill several 64 KiB segments
		cmd := fmt.Sprintf("fill-%d-%s", i, payload)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, failure = n.ApplyBytes(ctx, []byte(cmd))
		cancel()
		if failure == nil {
			acked = append(acked, cmd)
		}
	}
	if failure == nil {
		t.Fatal("200 writes of 2 KiB succeeded although no new segment could be created")
	}
	if !errors.Is(failure, types.ErrSealed) && !strings.Contains(failure.Error(), types.ErrSealed.Error()) {
		t.Logf("the failing write said %v (expected raft-wal's sealed segment)", failure)
	}
	t.Logf("%d writes acknowledged before rotation failed: %v", len(acked), failure)

	v.noCreate.Store(false)
	start := time.Now()
	testutil.WaitFor(t, waitTimeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := n.ApplyBytes(ctx, []byte("after"))
		return err
	})
	t.Logf("wrote again in place %s after segments could be created", time.Since(start).Round(time.Millisecond))
	acked = append(acked, "after")
	if m := acked.missing(n); len(m) > 0 {
		t.Fatalf("lacks %d acknowledged writes, first %.20q", len(m), m[0])
	}
}
