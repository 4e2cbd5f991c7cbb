package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// SnapshotSave streams a snapshot of the cluster's state, taken through
// the leader (or by the agent asked, when stale), to w. It returns the
// Raft index the snapshot was taken at. The transfer is bounded only by
// ctx; a stream cut short shows as an error here or, at the latest, when
// the archive's checksum is checked.
func (c *Client) SnapshotSave(ctx context.Context, w io.Writer, stale bool) (index uint64, err error) {
	q := url.Values{}
	if stale {
		q.Set("stale", "")
	}
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/v1/snapshot", query: q, long: true})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	index, _ = strconv.ParseUint(resp.Header.Get(HeaderIndex), 10, 64)
	if _, err := io.Copy(w, resp.Body); err != nil {
		return index, fmt.Errorf("receiving the snapshot from %s: %w", c.base.Host, err)
	}
	return index, nil
}

// SnapshotRestore replaces the cluster's state with the snapshot read from
// r (size bytes; -1 when unknown) and returns once committed. A corrupt or
// unknown archive is ErrBadRequest; one from another cluster is
// ErrConflict unless force. Nothing changes on an error.
func (c *Client) SnapshotRestore(ctx context.Context, r io.Reader, size int64, force bool) (SnapshotRestored, error) {
	q := url.Values{}
	if force {
		q.Set("force", "")
	}
	var res SnapshotRestored
	_, err := c.call(ctx, request{method: http.MethodPut, path: "/v1/snapshot", query: q, body: r, size: size, long: true, contentType: "application/octet-stream"}, &res)
	return res, err
}

// Metrics streams the agent's Prometheus metrics (text format) to w.
func (c *Client) Metrics(ctx context.Context, w io.Writer) error {
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/metrics"})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, io.LimitReader(resp.Body, maxAnswerBytes))
	return err
}
