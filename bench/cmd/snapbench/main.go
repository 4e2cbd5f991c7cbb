// Command snapbench measures snapshot restore and save on a cluster of
// built agent processes: it writes an archive of N keys in-process (the
// key/value state machine applies N puts; no HTTP load needed), restores
// it into a fresh cluster with `agent snapshot restore -force`, waits until
// every server holds it, saves it back with `agent snapshot save`, and
// inspects the copy. It reports each step's time and the peak RSS of the
// leader (VmHWM) and of each CLI process (its max RSS).
//
//	go build -o bin/agent ./cmd/agent
//	go run ./bench/cmd/snapbench -binary bin/agent -keys 1000000
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clusteragent/agent/agent/kv"
	"github.com/clusteragent/agent/agent/snapshot"
	"github.com/clusteragent/agent/api"
	"github.com/clusteragent/agent/bench/proc"
)

type options struct {
	binary    string
	keys      int
	valueSize int
	servers   int
	timeout   time.Duration
	keep      bool
}

func main() {
	var o options
	flag.StringVar(&o.binary, "binary", "bin/agent", "the built agent binary")
	flag.IntVar(&o.keys, "keys", 1000000, "keys in the snapshot")
	flag.IntVar(&o.valueSize, "value-size", 100, "bytes per value")
	flag.IntVar(&o.servers, "servers", 3, "servers in the cluster restored into")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "bound on the whole run")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (data dirs, logs, snapshots)")
	flag.Parse()
	agentBinary = o.binary
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "snapbench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "snapbench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Println("temp dir:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	src := filepath.Join(dir, "source.snap")
	start := time.Now()
	last, err := writeArchive(src, o.keys, o.valueSize)
	if err != nil {
		return err
	}
	st, _ := os.Stat(src)
	fmt.Printf("archive of %d keys (%d-byte values): %d bytes, built in %s\n", o.keys, o.valueSize, st.Size(), since(start))
	debug.FreeOSMemory() // the store that built it is garbage now; give the agents the memory
	c, err := startCluster(ctx, o, dir)
	defer c.stop()
	if err != nil {
		return err
	}
	return measure(ctx, c, dir, src, last)
}

// writeArchive applies n puts to an in-memory store and writes its
// snapshot as an archive; it returns the last key.
func writeArchive(path string, n, valueSize int) (string, error) {
	st := kv.NewStore(kv.DefaultLimits())
	value := []byte(strings.Repeat("v", valueSize))
	var key string
	for i := 1; i <= n; i++ {
		key = fmt.Sprintf("bench/%08d", i)
		m, err := kv.PutMutation(key, value, nil)
		if err != nil {
			return "", err
		}
		data, err := m.Encode()
		if err != nil {
			return "", err
		}
		st.Apply(&raft.Log{Index: uint64(i), Term: 1, Type: raft.LogCommand, Data: data})
	}
	spool := path + ".state"
	f, err := os.Create(spool)
	if err != nil {
		return "", err
	}
	defer os.Remove(spool)
	defer f.Close()
	snap, _ := st.Snapshot()
	if err := snap.Persist(&fileSink{f}); err != nil {
		return "", err
	}
	size, _ := f.Seek(0, io.SeekCurrent)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	meta := snapshot.Meta{Index: uint64(n), Term: 1, NodeID: "snapbench", CreatedAt: time.Now().UTC(), StateSize: size}
	return key, snapshot.WriteFileAtomic(path, func(out *os.File) error {
		_, err := snapshot.Write(out, meta, f)
		return err
	})
}

type fileSink struct{ *os.File }

func (s *fileSink) ID() string    { return "snapbench" }
func (s *fileSink) Cancel() error { return nil }
func (s *fileSink) Close() error  { return nil } // the caller reads it back

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }

// cluster is the agents restored into.
type cluster struct {
	procs []*proc.Process
	https []string
	apis  []*api.Client // one per agent, as https
}

func (c *cluster) stop() {
	for _, p := range c.procs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = p.Kill(ctx)
		cancel()
	}
}

func startCluster(ctx context.Context, o options, dir string) (*cluster, error) {
	ports, err := proc.FreePorts(3*o.servers, nil)
	if err != nil {
		return nil, err
	}
	c := &cluster{}
	seed := proc.HostPort(ports[0])
	for i := 0; i < o.servers; i++ {
		id := fmt.Sprintf("b%d", i+1)
		http := proc.HostPort(ports[3*i+2])
		args := []string{"run", "-node-id", id, "-data-dir", filepath.Join(dir, id), "-bind", "127.0.0.1",
			"-gossip-port", strconv.Itoa(ports[3*i]), "-raft-port", strconv.Itoa(ports[3*i+1]),
			"-http-addr", http, "-join", seed, "-bootstrap-expect", strconv.Itoa(o.servers)}
		p, err := proc.Start(id, o.binary, args, filepath.Join(dir, id+".log"))
		if err != nil {
			return c, err
		}
		c.procs, c.https = append(c.procs, p), append(c.https, http)
		a, err := api.NewClient(api.Config{Address: http})
		if err != nil {
			return c, err
		}
		c.apis = append(c.apis, a)
	}
	return c, poll(ctx, func() error {
		for _, a := range c.apis {
			if err := a.Ready(ctx); err != nil {
				return fmt.Errorf("%s not ready: %w", a.Host(), err)
			}
		}
		return nil
	})
}

func poll(ctx context.Context, cond func() error) error {
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; last: %v", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
