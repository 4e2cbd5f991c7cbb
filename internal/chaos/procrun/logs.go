package procrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// CollectLogs copies each node's log, the output of every run of its
// process, to dir/<node>.log. A node whose process never wrote a line has
// no file to copy and is skipped.
func (c *Cluster) CollectLogs(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("procrun: %w", err)
	}
	c.mu.Lock()
	logs := make(map[string]string, len(c.nodes))
	for _, nd := range c.nodes {
		logs[nd.cfg.ID] = nd.logPath
	}
	c.mu.Unlock()
	var errs []error
	for id, src := range logs {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := copyFile(src, filepath.Join(dir, id+".log"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("procrun: collect %s log: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// copyFile copies src to dst, which it creates or truncates. It copies what
// src holds now; a running process may append more afterwards.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
