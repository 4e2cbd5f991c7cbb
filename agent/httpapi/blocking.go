package httpapi

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Blocking reads: GET /v1/kv/{key}?index=N&wait=DUR and the prefix form.
const (
	// DefaultBlockingWait is how long a blocking read waits without ?wait.
	DefaultBlockingWait = 60 * time.Second
	// MaxBlockingWait caps ?wait; a longer one is cut to it, as Consul does.
	MaxBlockingWait = 10 * time.Minute
	// blockingSlack is added to a blocking read's connection deadlines on
	// top of its wait, for the leader wait and the answer itself.
	blockingSlack = 30 * time.Second
)

// BlockingQuery is a parsed ?index=N&wait=DUR.
type BlockingQuery struct {
	// Index is the index the client holds: answer once the key or prefix
	// changed after it. 0 answers at once.
	Index uint64
	// Wait is how long to wait for a change, spread included.
	Wait time.Duration
}

// parseBlocking reads ?index and ?wait. blocking is false for a plain read
// (no index). spread(n) returns a random duration in [0, n]: waits get up
// to wait/16 on top, so watchers that started together do not all come
// back together and reconnect in one burst.
func parseBlocking(q url.Values, spread func(n time.Duration) time.Duration) (bq BlockingQuery, blocking bool, err error) {
	if !q.Has("index") {
		if q.Has("wait") {
			return bq, false, fmt.Errorf("%w: wait is only meaningful with index (a blocking read)", ErrBadRequest)
		}
		return bq, false, nil
	}
	bq.Index, err = strconv.ParseUint(q.Get("index"), 10, 64)
	if err != nil {
		return bq, false, fmt.Errorf("%w: index must be a non-negative integer (the X-Agent-Index of an earlier answer), got %q", ErrBadRequest, q.Get("index"))
	}
	bq.Wait = DefaultBlockingWait
	if w := q.Get("wait"); w != "" {
		d, err := time.ParseDuration(w)
		if err != nil || d <= 0 {
			return bq, false, fmt.Errorf("%w: wait must be a positive duration such as 30s or 5m, got %q", ErrBadRequest, w)
		}
		bq.Wait = min(d, MaxBlockingWait)
	}
	bq.Wait += spread(bq.Wait / 16)
	return bq, true, nil
}

// randomSpread is the spread parseBlocking uses outside tests.
func randomSpread(n time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(n) + 1))
}

// extendDeadlines lets one blocking read outlive the server's read and
// write timeouts, which are sized for ordinary requests. The read deadline
// matters too: when it passes during the handler, net/http cancels the
// request's context.
func extendDeadlines(w http.ResponseWriter, wait time.Duration) {
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(wait + blockingSlack)
	_ = rc.SetReadDeadline(deadline) // unsupported (a test recorder): nothing to extend
	_ = rc.SetWriteDeadline(deadline)
}

// isBlocking reports whether r is a blocking read, which the forwarding
// client must not cut at its ordinary timeout.
func isBlocking(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.Query().Has("index")
}
