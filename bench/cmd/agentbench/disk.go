package main

import (
	"context"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clusteragent/agent/bench/agentcluster"
	"github.com/clusteragent/agent/bench/load"
	"github.com/clusteragent/agent/bench/report"
)

// measureDisk writes n values through the leader with the given number of
// keep-alive clients, over the bounded key space of load.PutKey, then
// reports every node's raft.db and snapshot sizes. Snapshots and log
// compaction run at the agent's defaults throughout.
func measureDisk(ctx context.Context, c *agentcluster.Cluster, leader *agentcluster.Node, n, clients, valueSize int, logStore string) (*report.Disk, error) {
	value := load.Value(valueSize)
	kcs := make([]*agentcluster.KVClient, clients)
	for w := range kcs {
		kc, err := agentcluster.NewKVClient(leader.URL)
		if err != nil {
			return nil, err
		}
		defer kc.Close()
		kcs[w] = kc
	}
	var (
		next, errs atomic.Int64
		firstErr   atomic.Value
		wg         sync.WaitGroup
	)
	began := time.Now()
	progress := time.NewTicker(30 * time.Second)
	defer progress.Stop()
	stopProgress := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopProgress:
				return
			case <-progress.C:
				log.Printf("disk: %d of %d writes", min(next.Load(), int64(n)), n)
			}
		}
	}()
	for w, kc := range kcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if err := kc.Put(ctx, load.PutKey(w, int(i)), value); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	close(stopProgress)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d := &report.Disk{Writes: n, Clients: clients, Seconds: time.Since(began).Seconds(), Errors: int(errs.Load()), LogStore: logStore}
	if logStore == "wal" {
		d.SegmentBytes = walSegmentBytes
	}
	if v, ok := firstErr.Load().(string); ok {
		d.FirstError = v
	}
	for _, node := range c.Nodes {
		if !node.Running() {
			continue
		}
		dir := c.DataDir(node)
		dn := report.DiskNode{ID: node.ID, Leader: node == leader}
		dn.LogStoreBytes = dirSize(filepath.Join(dir, "wal")) + dirSize(filepath.Join(dir, "raft.db"))
		dn.SnapshotsBytes = dirSize(filepath.Join(dir, "snapshots"))
		dn.NewestSnapshotBytes = newestSnapshotSize(filepath.Join(dir, "snapshots"))
		dn.DataDirBytes = dirSize(dir)
		d.Nodes = append(d.Nodes, dn)
	}
	return d, nil
}

// walSegmentBytes is the agents' WAL segment size: the default, which the
// bench does not change.
const walSegmentBytes = 64 << 20

// newestSnapshotSize is the size of the most recently written snapshot
// directory under dir (one still being written, *.tmp, does not count).
func newestSnapshotSize(dir string) uint64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	newest, newestAt := "", time.Time{}
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		if info, err := e.Info(); err == nil && info.ModTime().After(newestAt) {
			newest, newestAt = e.Name(), info.ModTime()
		}
	}
	if newest == "" {
		return 0
	}
	return dirSize(filepath.Join(dir, newest))
}

// dirSize is the total size of the regular files under dir (0 if none).
func dirSize(dir string) uint64 {
	var total uint64
	_ = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil // a snapshot being replaced; count what is there
		}
		if e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				total += uint64(info.Size())
			}
		}
		return nil
	})
	return total
}
