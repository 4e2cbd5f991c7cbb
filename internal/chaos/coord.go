package chaos

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/clusteragent/agent/internal/chaos/linearize"
)

// coordTraffic is the coordination load that runs beside the key/value
// clients: watchers and lease and lock clients.
type coordTraffic struct {
	wg     sync.WaitGroup
	watch  *watchers
	leases *leaseHistory
}

// Sizes of the coordination load: few clients, since each holds a lease
// or a long poll rather than adding throughput.
const (
	leaseClients   = 2
	lockContenders = 3
)

// startCoordTraffic starts the watchers and the lease and lock clients;
// they stop when ctx ends (wait).
func startCoordTraffic(ctx context.Context, c Cluster, opts Options, rec *linearize.Recorder, nodes func() []string) *coordTraffic {
	ct := &coordTraffic{}
	ct.wg.Add(2)
	go func() {
		defer ct.wg.Done()
		ct.watch = runWatchers(ctx, c, opts.Keys, opts.RequestTimeout, opts.Seed, nodes)
	}()
	go func() {
		defer ct.wg.Done()
		ct.leases = runLeaseTraffic(ctx, c, rec, leaseClients, lockContenders, opts.RequestTimeout, opts.Seed, nodes)
	}()
	return ct
}

// wait returns once every coordination client has stopped.
func (ct *coordTraffic) wait() { ct.wg.Wait() }

// check runs the coordination checks once traffic has stopped and the
// cluster has converged: watches against the write history, leases and
// locks against the safety rule, and, within timeout, every lease key and
// the lock gone from leader's state once their leases have expired.
func (ct *coordTraffic) check(ctx context.Context, obs *observer, leader string, tr *traffic, timeout time.Duration) []string {
	tr.writtenMu.Lock()
	written := tr.written
	tr.writtenMu.Unlock()
	out := checkWatches(ct.watch.all(), tr.acked.all(), written)
	out = append(out, checkLeases(ct.leases)...)
	out = append(out, checkLocks(ct.leases)...)
	err := waitCond(ctx, timeout, func(cctx context.Context) error {
		entries, err := localState(cctx, obs, leader)
		if err != nil {
			return err
		}
		var left []string
		for _, e := range entries {
			if strings.HasPrefix(e.Key, KeyPrefix+"lease/") || e.Key == LockKey {
				left = append(left, e.Key)
			}
		}
		if len(left) > 0 {
			return fmt.Errorf("%d keys on leases remain, such as %s", len(left), left[0])
		}
		return nil
	})
	if err != nil {
		out = append(out, fmt.Sprintf("keys on expired leases not gone %s after traffic stopped: %v", timeout, err))
	}
	return out
}

// leaseKeyOps counts the operations on lease keys in a history.
func leaseKeyOps(ops []porcupine.Operation) int {
	n := 0
	for _, op := range ops {
		if in, ok := op.Input.(linearize.Input); ok && strings.HasPrefix(in.Key, KeyPrefix+"lease/") {
			n++
		}
	}
	return n
}

// summary counts what the coordination traffic did, for the run's log.
func (ct *coordTraffic) summary() string {
	ct.leases.mu.Lock()
	defer ct.leases.mu.Unlock()
	n := 0
	for _, o := range ct.watch.all() {
		n += len(o)
	}
	return fmt.Sprintf("%d watch answers, %d leases, %d lease reads, %d lock holds, %v",
		n, len(ct.leases.acked), len(ct.leases.reads), len(ct.leases.holds), ct.leases.counts)
}
