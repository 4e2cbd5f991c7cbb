package dockerrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// AddNode starts server n<k> (k one past the nodes so far) with
// bootstrap_expect 0, so it waits to be added by the leader, joining
// through every node that is up and connected. With Options.SeedName it
// joins through the name with the same bootstrap_expect as the first
// servers, as a StatefulSet's new pod has the same config as the others. It returns without waiting
// for the node to join.
func (c *Cluster) AddNode(ctx context.Context) (string, error) {
	k := len(c.Nodes()) + 1
	id := "n" + strconv.Itoa(k)
	ip, err := nodeIP(c.subnet, k)
	if err != nil {
		return "", fmt.Errorf("dockerrun: adding %s: %w", id, err)
	}
	var seeds, all []string
	for _, other := range c.Nodes() {
		n, err := c.node(other)
		if err != nil {
			return "", err
		}
		all = append(all, n.ip.String())
		if !c.stopped[other] && !c.paused[other] && !c.disconnected[other] {
			seeds = append(seeds, n.ip.String())
		}
	}
	if len(seeds) == 0 {
		// Nobody is up now; the agent keeps retrying until one is.
		seeds = all
	}
	nc := nodeConfig{ID: id, IP: ip.String(), Join: seeds}
	if c.opts.SeedName != "" {
		// A StatefulSet gives every pod the same config, bootstrap_expect
		// included: a pod added by a scale-up must join, never bootstrap.
		nc.BootstrapExpect = c.opts.Servers
	}
	if err := c.startNode(ctx, nc, ip); err != nil {
		return "", err
	}
	return id, nil
}

// CollectLogs writes each node's container output, stdout and stderr, to
// dir/<node>.log.
func (c *Cluster) CollectLogs(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("dockerrun: collecting logs: %w", err)
	}
	var errs []error
	for _, id := range c.Nodes() {
		errs = append(errs, c.collectLog(ctx, id, filepath.Join(dir, id+".log")))
	}
	return errors.Join(errs...)
}

func (c *Cluster) collectLog(ctx context.Context, id, path string) (err error) {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("dockerrun: log of %s: %w", id, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("dockerrun: log of %s: %w", id, cerr)
		}
	}()
	if _, err := (command{name: "docker", args: []string{"logs", n.container}, out: f}).run(ctx, logsTimeout); err != nil {
		return fmt.Errorf("dockerrun: log of %s: %w", id, err)
	}
	return nil
}

// Close removes the run's containers with their data volumes, its network,
// its config files and, when Start built it, its image, each by its own
// name; it carries on past failures and reports them all. With
// Options.LogDir set it collects the logs first. Close is idempotent.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.close() })
	return c.closeErr
}

func (c *Cluster) close() error {
	// A fresh context: Close runs in cleanups, after the caller's is gone.
	ctx := context.Background()
	var errs []error
	c.mu.Lock()
	containers := append([]string(nil), c.containers...)
	c.mu.Unlock()
	if c.opts.LogDir != "" && len(c.Nodes()) > 0 {
		errs = append(errs, c.CollectLogs(ctx, c.opts.LogDir))
	}
	if len(containers) > 0 {
		errs = append(errs, removeContainers(ctx, containers))
	}
	if c.netCreated {
		if _, err := docker(ctx, dockerTimeout, "network", "rm", c.prefix); err != nil && !saidAny(err, "not found", "no such network") {
			errs = append(errs, fmt.Errorf("dockerrun: removing network %s: %w", c.prefix, err))
		}
	}
	if c.removeImage != nil {
		errs = append(errs, c.removeImage())
	}
	if c.dir != "" {
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, fmt.Errorf("dockerrun: removing config dir: %w", err))
		}
	}
	return errors.Join(errs...)
}

// removeContainers force-removes names with their anonymous volumes (the
// image's /data) in one command, and one by one if that fails, so that one
// missing container neither hides another's real failure nor stops the rest.
func removeContainers(ctx context.Context, names []string) error {
	if _, err := docker(ctx, removeTimeout, append([]string{"rm", "--force", "--volumes"}, names...)...); err == nil {
		return nil
	}
	var errs []error
	for _, name := range names {
		if _, err := docker(ctx, removeTimeout, "rm", "--force", "--volumes", name); err != nil && !saidAny(err, "no such container") {
			errs = append(errs, fmt.Errorf("dockerrun: removing container %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
