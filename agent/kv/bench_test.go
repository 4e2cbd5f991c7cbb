package kv

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clusteragent/agent/raftnode/command"
)

// BenchmarkApplyPut: one put of a 256-byte value through Apply, as every
// replica runs it for every write; binary is the current encoding, json the
// one earlier versions wrote (still applied when replaying their logs).
func BenchmarkApplyPut(b *testing.B) {
	value := strings.Repeat("v", 256)
	b.Run("binary", func(b *testing.B) {
		benchApplyPut(b, func(key string) []byte { return putData(b, key, value, nil) })
	})
	b.Run("json", func(b *testing.B) {
		benchApplyPut(b, func(key string) []byte {
			p, err := json.Marshal(putPayload{Key: key, Value: []byte(value)})
			if err != nil {
				b.Fatal(err)
			}
			d, err := command.Mutation{Type: TypePut, Payload: p}.Encode()
			if err != nil {
				b.Fatal(err)
			}
			return d
		})
	})
}

func benchApplyPut(b *testing.B, entry func(key string) []byte) {
	const distinct = 1 << 14
	entries := make([][]byte, distinct)
	for i := range entries {
		entries[i] = entry(fmt.Sprintf("bench/%08d", i))
	}
	s := NewStore(DefaultLimits())
	l := &raft.Log{Type: raft.LogCommand}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.Index, l.Data = uint64(i+1), entries[i%distinct]
		if res, ok := s.Apply(l).(Result); !ok || !res.OK {
			b.Fatalf("Apply = %v", res)
		}
	}
}

// BenchmarkApplyBatch: puts handed over 64 at a time, as raft does under
// load with group commit; ns/op is per entry, to compare with
// BenchmarkApplyPut.
func BenchmarkApplyBatch(b *testing.B) {
	const distinct, batch = 1 << 14, 64
	value := strings.Repeat("v", 256)
	logs := make([]*raft.Log, distinct)
	for i := range logs {
		logs[i] = &raft.Log{Type: raft.LogCommand, Data: putData(b, fmt.Sprintf("bench/%08d", i), value, nil)}
	}
	s := NewStore(DefaultLimits())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		n := min(batch, b.N-i)
		group := make([]*raft.Log, n)
		for j := range group {
			l := *logs[(i+j)%distinct]
			l.Index = uint64(i + j + 1)
			group[j] = &l
		}
		for _, res := range s.ApplyBatch(group) {
			if r, ok := res.(Result); !ok || !r.OK {
				b.Fatalf("ApplyBatch = %v", res)
			}
		}
	}
}

// heapObjectsMetric is the bytes of live and not yet swept heap objects:
// what the heap holds right now, read without stopping the world.
const heapObjectsMetric = "/memory/classes/heap/objects:bytes"

func heapObjects() uint64 {
	sample := []metrics.Sample{{Name: heapObjectsMetric}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// liveHeap collects garbage, then returns what is left.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	return heapObjects()
}

// peakSampler records the highest heap size seen while it runs.
type peakSampler struct {
	stop chan struct{}
	done chan uint64
}

func startPeak() *peakSampler {
	p := &peakSampler{stop: make(chan struct{}), done: make(chan uint64, 1)}
	go func() {
		tick := time.NewTicker(500 * time.Microsecond)
		defer tick.Stop()
		peak := heapObjects()
		for {
			select {
			case <-p.stop:
				p.done <- max(peak, heapObjects())
				return
			case <-tick.C:
				peak = max(peak, heapObjects())
			}
		}
	}()
	return p
}

func (p *peakSampler) Stop() uint64 {
	close(p.stop)
	return <-p.done
}

// fileSink is a raft.SnapshotSink writing to a file.
type fileSink struct{ *os.File }

func (f fileSink) ID() string { return f.Name() }
func (f fileSink) Cancel() error {
	return f.File.Close()
}

func mib(v uint64) float64 { return float64(v) / (1 << 20) }

// BenchmarkSnapshotRestore1M persists a store of a million keys (16-byte
// keys, 32-byte values) to a file and restores it into a new store. It
// reports the store's own heap size next to the extra heap Persist needs
// at its peak (the point: O(buffer), not a copy of the data) and the peak
// while restoring (the new tree being built; the source store stays alive
// throughout, as a follower's old state does, and is not counted).
func BenchmarkSnapshotRestore1M(b *testing.B) {
	const n = 1_000_000
	base := liveHeap()
	src := NewStore(DefaultLimits())
	l := &raft.Log{Type: raft.LogCommand}
	for i := 0; i < n; i++ {
		l.Index, l.Data = uint64(i+1), putData(b, fmt.Sprintf("key/%012d", i), fmt.Sprintf("value-%026d", i), nil)
		if res, ok := src.Apply(l).(Result); !ok || !res.OK {
			b.Fatalf("Apply = %v", res)
		}
	}
	storeBytes := liveHeap() - base
	want := src.Hash()
	path := filepath.Join(b.TempDir(), "snapshot")
	var persistPeak, restorePeak, restoredBytes, fileBytes uint64
	var persistTime, restoreTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		peak, took := persistToFile(b, src, path)
		persistPeak, persistTime = max(persistPeak, peak), persistTime+took
		fileBytes = fileSize(b, path)
		peak, took, restored, dst := restoreFromFile(b, path)
		restorePeak, restoreTime, restoredBytes = max(restorePeak, peak), restoreTime+took, restored
		if dst.Hash() != want || dst.Len() != n {
			b.Fatalf("restored store differs: %d keys", dst.Len())
		}
	}
	b.StopTimer()
	b.ReportMetric(mib(storeBytes), "store_MiB")
	b.ReportMetric(mib(persistPeak), "persist_peak_heap_MiB")
	b.ReportMetric(mib(restorePeak), "restore_peak_heap_MiB")
	b.ReportMetric(mib(restoredBytes), "restored_store_MiB")
	b.ReportMetric(mib(fileBytes), "snapshot_file_MiB")
	b.ReportMetric(persistTime.Seconds()/float64(b.N), "persist_s")
	b.ReportMetric(restoreTime.Seconds()/float64(b.N), "restore_s")
	runtime.KeepAlive(src)
}

// persistToFile snapshots s into path and returns the peak heap growth
// while persisting, and how long it took.
func persistToFile(b *testing.B, s *Store, path string) (uint64, time.Duration) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	before := liveHeap()
	peak := startPeak()
	start := time.Now()
	snap, err := s.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	if err := snap.Persist(fileSink{f}); err != nil {
		b.Fatal(err)
	}
	snap.Release()
	took := time.Since(start)
	return peak.Stop() - before, took
}

// restoreFromFile restores path into a new store and returns the peak heap
// growth while restoring, how long it took, the new store's live size, and
// the store.
func restoreFromFile(b *testing.B, path string) (peak uint64, took time.Duration, size uint64, s *Store) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	before := liveHeap()
	sampler := startPeak()
	start := time.Now()
	s = NewStore(DefaultLimits())
	if err := s.Restore(f); err != nil {
		b.Fatal(err)
	}
	took = time.Since(start)
	peak = sampler.Stop() - before
	return peak, took, liveHeap() - before, s
}

func fileSize(b *testing.B, path string) uint64 {
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return uint64(fi.Size())
}
