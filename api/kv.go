package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// QueryOptions shape a read.
type QueryOptions struct {
	// Stale reads the answering agent's local copy, which may lag the
	// leader; the default is a linearizable read through the leader.
	Stale bool
	// WaitIndex makes the read blocking: it answers once the key (or
	// anything under the prefix) changed after WaitIndex, or when WaitTime
	// passed. Pass ReadMeta.Index of the previous answer.
	WaitIndex uint64
	// WaitTime bounds a blocking read (server default 60s, at most 10m).
	// Given without WaitIndex it makes a blocking read from index 0, which
	// answers at once with the index to wait from next.
	WaitTime time.Duration
}

// blocking reports whether o makes a blocking read. A WaitTime alone makes
// one from index 0, which answers at once.
func (o *QueryOptions) blocking() bool {
	return o != nil && (o.WaitIndex > 0 || o.WaitTime > 0)
}

func (o *QueryOptions) request(path string, q url.Values) request {
	if q == nil {
		q = url.Values{}
	}
	r := request{method: http.MethodGet, path: path, query: q}
	if o == nil {
		return r
	}
	if o.Stale {
		q.Set("stale", "")
	}
	if o.blocking() {
		q.Set("index", strconv.FormatUint(o.WaitIndex, 10))
		wait := 60 * time.Second
		if o.WaitTime > 0 {
			wait = o.WaitTime
			q.Set("wait", o.WaitTime.String())
		}
		// The answer may take the wait and the server's spread of up to
		// wait/16; the ordinary timeout must not cut it.
		r.long = true
		r.timeout = wait + wait/16 + blockingSlack
	}
	return r
}

// PutOptions shape a write or delete.
type PutOptions struct {
	// CAS, when not nil, makes the write a compare-and-set: it is applied
	// only if the key's modify index is *CAS (0: only if the key is
	// absent); otherwise the call fails with ErrCASFailed.
	CAS *uint64
	// Lease attaches the key to a lease (its ID, as LeaseGrant returns it):
	// the key is deleted when the lease expires or is revoked.
	Lease string
}

// Index returns a pointer to i, for PutOptions.CAS.
func Index(i uint64) *uint64 { return &i }

// KVPath is the API path of key.
func KVPath(key string) string {
	return "/v1/kv/" + escapeKey(key)
}

// escapeKey escapes each segment of key but keeps its slashes, so the
// server sees the key as written.
func escapeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

var errEmptyKey = errors.New("the key is empty")

// KVGet reads key. A missing key is an error matching ErrNotFound; its
// ReadMeta still carries the index to block on.
func (c *Client) KVGet(ctx context.Context, key string, opts *QueryOptions) (KVEntry, ReadMeta, error) {
	if key == "" {
		return KVEntry{}, ReadMeta{}, fmt.Errorf("%w: %w", ErrBadRequest, errEmptyKey)
	}
	var e KVEntry
	h, err := c.callQuery(ctx, opts.request(KVPath(key), nil), &e)
	return e, readMeta(h), err
}

// KVList reads every key under prefix ("" for all), sorted by key.
func (c *Client) KVList(ctx context.Context, prefix string, opts *QueryOptions) ([]KVEntry, ReadMeta, error) {
	q := url.Values{}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	var list []KVEntry
	h, err := c.callQuery(ctx, opts.request("/v1/kv/", q), &list)
	return list, readMeta(h), err
}

// callQuery is call with a blocking read's own deadline.
func (c *Client) callQuery(ctx context.Context, r request, out any) (http.Header, error) {
	if r.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	return c.call(ctx, r, out)
}

// KVPut writes value to key and returns once the write is committed. With
// opts.CAS, a compare that fails returns the answer and ErrCASFailed.
func (c *Client) KVPut(ctx context.Context, key string, value []byte, opts *PutOptions) (KVWrite, error) {
	return c.kvWrite(ctx, http.MethodPut, key, value, opts)
}

// KVDelete deletes key (deleting a missing key succeeds) and returns once
// committed; opts.CAS as for KVPut (opts.Lease is ignored).
func (c *Client) KVDelete(ctx context.Context, key string, opts *PutOptions) (KVWrite, error) {
	return c.kvWrite(ctx, http.MethodDelete, key, nil, opts)
}

func (c *Client) kvWrite(ctx context.Context, method, key string, value []byte, opts *PutOptions) (KVWrite, error) {
	if key == "" {
		return KVWrite{}, fmt.Errorf("%w: %w", ErrBadRequest, errEmptyKey)
	}
	q := url.Values{}
	if opts != nil && opts.CAS != nil {
		q.Set("cas", strconv.FormatUint(*opts.CAS, 10))
	}
	if opts != nil && opts.Lease != "" && method == http.MethodPut {
		q.Set("lease", opts.Lease)
	}
	r := request{method: method, path: KVPath(key), query: q}
	if method == http.MethodPut {
		r.body, r.size = bytes.NewReader(value), int64(len(value))
	}
	var res KVWrite
	if _, err := c.call(ctx, r, &res); err != nil {
		return KVWrite{}, err
	}
	if !res.OK {
		return res, casFailed(key, opts)
	}
	return res, nil
}

// casFailed is the error of a write the server did not apply ({"ok": false}).
func casFailed(key string, opts *PutOptions) error {
	if opts == nil || opts.CAS == nil {
		return fmt.Errorf("%w: the agent did not apply the write to %s", ErrCASFailed, key)
	}
	return fmt.Errorf("%w: %s was modified (or exists) since index %d", ErrCASFailed, key, *opts.CAS)
}
