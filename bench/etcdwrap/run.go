package etcdwrap

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/clusteragent/agent/bench/load"
	"github.com/clusteragent/agent/bench/report"
)

// Run runs the load driver with plan against a fresh three-member etcd
// whose data and logs go under dir, and returns what it measured. The
// driver's messages pass through to stderr.
func Run(ctx context.Context, b Binaries, dir string, plan load.Plan) (*report.Side, error) {
	clients := make([]string, len(plan.Clients))
	for i, c := range plan.Clients {
		clients[i] = strconv.Itoa(c)
	}
	cmd := exec.CommandContext(ctx, b.Driver,
		"-etcd", b.Etcd, "-dir", dir, "-version", b.Version,
		"-clients", strings.Join(clients, ","),
		"-warmup", plan.Warmup.String(), "-duration", plan.Duration.String(),
		"-value-size", strconv.Itoa(plan.ValueSize))
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	// On cancellation the driver gets SIGTERM, kills its members and exits.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 45 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("etcdwrap: load driver: %w", err)
	}
	var side report.Side
	if err := json.Unmarshal(stdout.Bytes(), &side); err != nil {
		return nil, fmt.Errorf("etcdwrap: load driver printed %q: %w", stdout.Bytes(), err)
	}
	return &side, nil
}
