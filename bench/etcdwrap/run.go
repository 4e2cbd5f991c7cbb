package etcdwrap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/clusteragent/agent/bench/load"
	"github.com/clusteragent/agent/bench/report"
)

// Cluster is a running load driver and the three-member etcd it started.
// The cluster stays up between rounds, as the agents do, so both carry the
// writes of the rounds before and both idle alongside the other's load.
type Cluster struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *json.Decoder
	// Idle is what the driver said once etcd had formed: system, version
	// and the leader's idle memory, no results.
	Idle   report.Side
	closed bool
}

// Start runs the load driver, which starts a fresh three-member etcd whose
// data and logs go under dir, and returns once etcd has a leader. The
// driver's messages pass through to stderr. Close it.
func Start(ctx context.Context, b Binaries, dir string, plan load.Plan) (*Cluster, error) {
	clients := make([]string, len(plan.Clients))
	for i, c := range plan.Clients {
		clients[i] = strconv.Itoa(c)
	}
	cmd := exec.CommandContext(ctx, b.Driver,
		"-etcd", b.Etcd, "-dir", dir, "-version", b.Version,
		"-clients", strings.Join(clients, ","),
		"-warmup", plan.Warmup.String(), "-duration", plan.Duration.String(),
		"-value-size", strconv.Itoa(plan.ValueSize))
	cmd.Stderr = os.Stderr
	// On cancellation the driver gets SIGINT, kills its members and exits.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 45 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("etcdwrap: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("etcdwrap: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("etcdwrap: load driver: %w", err)
	}
	c := &Cluster{cmd: cmd, stdin: stdin, out: json.NewDecoder(stdout)}
	if err := c.read(&c.Idle); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

// Round runs every level of the plan once against etcd's current leader
// (put levels, then the get levels over preloaded keys) and returns what
// it measured. Cancelling Start's context interrupts it.
func (c *Cluster) Round() (*report.Side, error) {
	if c.closed {
		return nil, errors.New("etcdwrap: round on a closed cluster")
	}
	if _, err := io.WriteString(c.stdin, "round\n"); err != nil {
		// The driver has gone: its exit says more than the broken pipe.
		return nil, errors.Join(fmt.Errorf("etcdwrap: load driver: %w", err), c.Close())
	}
	var side report.Side
	if err := c.read(&side); err != nil {
		return nil, err
	}
	return &side, nil
}

// read decodes the driver's next line. Should the driver have ended
// instead, it says why.
func (c *Cluster) read(v any) error {
	if err := c.out.Decode(v); err != nil {
		if cerr := c.Close(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("etcdwrap: load driver: %w", err)
	}
	return nil
}

// Close ends the driver's input, upon which it kills etcd and exits, and
// waits for it. The driver's failure is reported once: by the Round that
// met it, or else by the first Close; later calls return nil.
func (c *Cluster) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	_ = c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		return fmt.Errorf("etcdwrap: load driver: %w", err)
	}
	return nil
}
