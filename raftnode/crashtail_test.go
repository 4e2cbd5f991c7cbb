package raftnode

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clusteragent/agent/internal/testutil"
	"github.com/clusteragent/agent/raftnode/raftnodetest"
)

// catchUpTimeout bounds a restarted node's catch-up: generous, because the
// suite must stay green with -race on a loaded two-core machine.
const catchUpTimeout = 45 * time.Second

// raft-wal v0.4.1's segment format (segment/format.go): a 32-byte file
// header, then 8-byte frame headers (type byte, 3 reserved, uint32 length
// or, for commit frames, a CRC), payloads padded to 8 bytes. Segments are
// preallocated, so written data ends at the first all-zero frame header.
const (
	segFileHeaderLen  = 32
	segFrameHeaderLen = 8
	segFrameEntry     = 1
	segFrameIndex     = 2
	segFrameCommit    = 3
)

// segTail is where the last committed batch of a segment file lies.
type segTail struct {
	batchStart int64   // first byte after the previous commit frame
	lastEntry  int64   // offset of the last entry frame of the batch
	end        int64   // first byte after the last commit frame
	entries    int     // entry frames in the last batch
	commits    []int64 // offsets of every commit frame
}

// scanSegment walks the frames of a raft-wal segment file the way
// raft-wal's recovery does and locates its last committed batch.
func scanSegment(t *testing.T, path string) segTail {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tail := segTail{batchStart: segFileHeaderLen}
	var sinceCommit []int64
	for off := int64(segFileHeaderLen); off+segFrameHeaderLen <= int64(len(b)); {
		typ, n := b[off], binary.LittleEndian.Uint32(b[off+4:off+8])
		size := int64(segFrameHeaderLen)
		switch typ {
		case 0:
			if tail.end == 0 || len(tail.commits) == 0 {
				t.Fatalf("%s: no committed frames found", path)
			}
			return tail
		case segFrameEntry, segFrameIndex:
			size += int64(n) + int64((segFrameHeaderLen-n%segFrameHeaderLen)%segFrameHeaderLen)
			if typ == segFrameEntry {
				sinceCommit = append(sinceCommit, off)
			}
		case segFrameCommit:
			if len(sinceCommit) > 0 {
				tail.lastEntry, tail.entries = sinceCommit[len(sinceCommit)-1], len(sinceCommit)
				if len(tail.commits) > 0 {
					tail.batchStart = tail.commits[len(tail.commits)-1] + segFrameHeaderLen
				}
			}
			tail.commits = append(tail.commits, off)
			tail.end, sinceCommit = off+segFrameHeaderLen, nil
		default:
			t.Fatalf("%s: unknown frame type %d at %d", path, typ, off)
		}
		off += size
	}
	return tail
}

// newestSegment returns the path of the last-named (highest base index)
// segment file under dataDir/wal.
func newestSegment(t *testing.T, dataDir string) string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dataDir, walDir, "*.wal"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no segment files in %s (%v)", filepath.Join(dataDir, walDir), err)
	}
	sort.Strings(names)
	return names[len(names)-1]
}

// walLastIndex opens a data dir's WAL the way a node does, without raft,
// and returns its last index: what recovery kept.
func walLastIndex(t *testing.T, dataDir string) uint64 {
	t.Helper()
	s, err := openStorage(storageOptions{dir: dataDir, logStore: LogStoreWAL, walSegmentSize: 256 << 10, retain: 1, logger: testLogger("inspect")})
	if err != nil {
		t.Fatalf("open damaged WAL: %v", err)
	}
	defer func() {
		if err := s.close(); err != nil {
			t.Error(err)
		}
	}()
	last, err := s.store.LastIndex()
	if err != nil {
		t.Fatalf("LastIndex of damaged WAL: %v", err)
	}
	return last
}

// TestTornTailSegmentRecovers damages the newest segment of a stopped
// follower the two ways a crash mid-append can leave it (a write cut
// short, or a region the disk never wrote, read back as zeros) and
// restarts it. Recovery may drop only the torn batch, never more, and the
// node must start, rejoin and catch up to exactly the leader's state.
func TestTornTailSegmentRecovers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, tail segTail)
	}{
		{"truncated mid-record", func(t *testing.T, path string, tail segTail) {
			// Keep the last entry's frame header and 3 bytes of its payload.
			if err := os.Truncate(path, tail.lastEntry+segFrameHeaderLen+3); err != nil {
				t.Fatal(err)
			}
		}},
		{"zero-filled tail", func(t *testing.T, path string, tail segTail) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(make([]byte, tail.end-tail.batchStart), tail.batchStart); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tornTailCase(t, tc.damage) })
	}
}

// tornTailCase runs one damage on a follower of a fresh 3-node cluster.
func tornTailCase(t *testing.T, damage func(*testing.T, string, segTail)) {
	nodes := startCluster(t, []string{"a", "b", "c"}, func(o *Options) { o.LogStore = LogStoreWAL })
	payload := strings.Repeat("x", 900) // ~1 KiB entries: the log spans segments
	applyEach(t, nodes, 300, func(i int) []byte { return []byte(fmt.Sprintf("pre-%d-%s", i, payload)) })
	waitApplied(t, 300, nodes...)
	victim := others(nodes, waitLeader(t, nodes...))[0]
	before := victim.Raft().LastIndex()
	if err := victim.Close(); err != nil {
		t.Fatal(err)
	}
	seg := newestSegment(t, victim.opts.DataDir)
	tail := scanSegment(t, seg)
	damage(t, seg, tail)
	after := walLastIndex(t, victim.opts.DataDir)
	t.Logf("%s: last index %d before, %d after damaging %s (last batch: %d entries, bytes %d..%d)",
		victim.NodeID(), before, after, filepath.Base(seg), tail.entries, tail.batchStart, tail.end)
	if want := before - uint64(tail.entries); after != want {
		t.Fatalf("recovered last index %d, want %d: only the torn batch of %d entries may go", after, want, tail.entries)
	}

	restarted := restartNode(t, victim)
	live := []*testNode{restarted, others(nodes, victim)[0], others(nodes, victim)[1]}
	waitLeader(t, live...)
	applyCluster(t, live, "post", 5)
	waitSameFSM(t, 305, live...)
}

// restartNode starts a stopped node again on its data dir and address
// with a fresh FSM, which raft rebuilds from the log.
func restartNode(t *testing.T, n *testNode) *testNode {
	t.Helper()
	o := n.opts
	var err error
	testutil.WaitFor(t, waitTimeout, func() error {
		o.Listener, err = listenOn(n.Addr())
		return err
	})
	o.FSM = raftnodetest.NewFSM()
	return startNode(t, o)
}

// listenOn listens on addr again, for a node restarted on its address.
func listenOn(addr string) (net.Listener, error) {
	return net.Listen("tcp", addr)
}

// waitSameFSM waits until every node's FSM holds at least want commands,
// the same ones at the same indexes.
func waitSameFSM(t *testing.T, want int, nodes ...*testNode) {
	t.Helper()
	testutil.WaitFor(t, catchUpTimeout, func() error {
		ref := nodes[0].fsm.Entries()
		if len(ref) < want {
			return fmt.Errorf("%s applied %d commands, want at least %d", nodes[0].NodeID(), len(ref), want)
		}
		for _, n := range nodes[1:] {
			got := n.fsm.Entries()
			if len(got) != len(ref) {
				return fmt.Errorf("%s applied %d commands, %s %d", n.NodeID(), len(got), nodes[0].NodeID(), len(ref))
			}
			for i := range got {
				if got[i].Index != ref[i].Index || !bytes.Equal(got[i].Data, ref[i].Data) {
					return fmt.Errorf("%s and %s differ at command %d (index %d vs %d)", n.NodeID(), nodes[0].NodeID(), i, got[i].Index, ref[i].Index)
				}
			}
		}
		return nil
	})
}

// TestWALTailTruncationSurvivesReopen exercises raft-wal's tail truncation
// (DeleteRange up to the last index, what a follower does when a new
// leader overwrites a conflicting suffix) across segment boundaries, then
// reopens the store. raft-wal before v0.4.1 could panic on this reopen
// (raft-wal #31, fixed by #33); the log must come back exactly truncated
// and accept appends at the next index.
func TestWALTailTruncationSurvivesReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	open := func() *storage {
		s, err := openStorage(storageOptions{dir: dir, logStore: LogStoreWAL, walSegmentSize: MinWALSegmentSize, retain: 1, logger: testLogger("wal")})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return s
	}
	entries := func(from, to uint64) []*raft.Log {
		var logs []*raft.Log
		for i := from; i <= to; i++ {
			logs = append(logs, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(i)}, 1000)})
		}
		return logs
	}
	s := open()
	for i := uint64(1); i <= 400; i += 20 { // ~400 KB over 64 KiB segments
		if err := s.store.StoreLogs(entries(i, i+19)); err != nil {
			t.Fatal(err)
		}
	}
	segments, _ := filepath.Glob(filepath.Join(dir, walDir, "*.wal"))
	if err := s.store.DeleteRange(150, 400); err != nil { // back into an older segment
		t.Fatalf("DeleteRange: %v", err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	s = open()
	defer s.close()
	if last, err := s.store.LastIndex(); err != nil || last != 149 {
		t.Fatalf("after reopen LastIndex = %d, %v; want 149 (%d segments before truncation)", last, err, len(segments))
	}
	if err := s.store.StoreLogs(entries(150, 160)); err != nil {
		t.Fatalf("append after truncation and reopen: %v", err)
	}
	var l raft.Log
	if err := s.store.GetLog(160, &l); err != nil || l.Data[0] != 160 {
		t.Fatalf("GetLog(160): %v", err)
	}
	if err := s.store.GetLog(149, &l); err != nil || l.Data[0] != 149 {
		t.Fatalf("GetLog(149): %v", err)
	}
}
