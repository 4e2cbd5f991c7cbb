package agent

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/raftnode"
	"github.com/clusteragent/agent/raftnode/command"
)

// applyPath is the agent-to-agent route a follower's Apply (and Read)
// forwards a WithFSM mutation on. It is served on the Raft port only, never
// on the client HTTP address: it writes raw entries to the log.
const applyPath = "/v1/internal/apply"

// applyAnswer is the leader's answer on applyPath.
type applyAnswer struct {
	Index uint64 `json:"index"`
	// FSMError is the state machine's error value for the entry, if any.
	FSMError string `json:"fsm_error,omitempty"`
}

// rpcHandler is the agent-to-agent API: the HTTP API plus applyPath when a
// WithFSM state machine runs.
func (a *Agent) rpcHandler(api http.Handler) http.Handler {
	if a.user == nil {
		return api
	}
	// Not a ServeMux: it would redirect unclean paths to cleaned ones,
	// which the API refuses on purpose (see httpapi).
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != applyPath {
			api.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeRPCError(w, http.StatusMethodNotAllowed, "method %s is not allowed on %s; allowed: POST", r.Method, applyPath)
			return
		}
		a.handleForwardedApply(w, r)
	})
}

// handleForwardedApply proposes a follower's mutation. The body is the
// encoded command.Mutation; it must decode as one, so that no other kind
// of entry (raftnode's own) can be written this way.
func (a *Agent) handleForwardedApply(w http.ResponseWriter, r *http.Request) {
	if !a.peerAuthorized(w, r) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxMutationBytes))
	if err != nil {
		writeRPCError(w, http.StatusRequestEntityTooLarge, "%v: the limit is %d bytes", ErrMutationTooLarge, MaxMutationBytes)
		return
	}
	if _, err := command.DecodeMutation(body); err != nil {
		writeRPCError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if !a.raft.IsLeader() {
		writeRPCError(w, http.StatusMisdirectedRequest, "not the leader")
		return
	}
	idx, err := a.applyLocal(r.Context(), body)
	ans := applyAnswer{Index: idx}
	switch {
	case errors.Is(err, errRetryable):
		writeRPCError(w, http.StatusMisdirectedRequest, "%v", err)
		return
	case errors.Is(err, raftnode.ErrFSM):
		ans.FSMError = strings.TrimPrefix(err.Error(), raftnode.ErrFSM.Error()+": ")
	case err != nil:
		writeRPCError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	if err == nil && bytes.Equal(body, readMarker) {
		a.pushCommitIndex(r.Context())
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ans)
}

// pushCommitIndex makes the leader send its commit index to the followers
// now. Raft tells followers the commit index only with the next append,
// which an idle leader sends after commit_timeout (50-100 ms): a follower
// waiting to apply its read marker would wait that long. Appending a
// barrier sends it at once. Only a speed-up, so a failure is ignored.
func (a *Agent) pushCommitIndex(ctx context.Context) {
	_ = a.raft.Barrier(ctx)
}

// peerAuthorized checks the bearer token when one is set, as the HTTP API
// does for every agent-to-agent call.
func (a *Agent) peerAuthorized(w http.ResponseWriter, r *http.Request) bool {
	want := a.cfg.HTTP.Token
	if want == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || got == "" {
		writeRPCError(w, http.StatusUnauthorized, "missing token")
		return false
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		writeRPCError(w, http.StatusForbidden, "invalid token")
		return false
	}
	return true
}

func writeRPCError(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(httpapi.ErrorBody{Error: fmt.Sprintf(format, args...)})
}

// apply forwards an encoded mutation to the leader at raftAddr. A refusal
// because that node no longer leads is retryable; a transport failure is
// not, since the leader may have proposed the entry before it broke.
func (p *peerClient) apply(ctx context.Context, raftAddr string, data []byte) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.scheme+"://"+raftAddr+applyPath, bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		if isDialError(err) {
			return 0, fmt.Errorf("%w: leader at %s: %w", errRetryable, raftAddr, err)
		}
		return 0, fmt.Errorf("forward to the leader at %s: %w", raftAddr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, fmt.Errorf("forward to the leader at %s: %w", raftAddr, err)
	}
	return decodeApplyAnswer(resp.StatusCode, body)
}

// decodeApplyAnswer turns the leader's answer into Apply's result.
func decodeApplyAnswer(code int, body []byte) (uint64, error) {
	if code == http.StatusOK {
		var ans applyAnswer
		if err := json.Unmarshal(body, &ans); err != nil {
			return 0, fmt.Errorf("leader's answer: %w", err)
		}
		if ans.FSMError != "" {
			return ans.Index, fmt.Errorf("%w: %s", raftnode.ErrFSM, ans.FSMError)
		}
		return ans.Index, nil
	}
	var e httpapi.ErrorBody
	msg := fmt.Sprintf("status %d", code)
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	switch code {
	case http.StatusMisdirectedRequest:
		return 0, fmt.Errorf("%w: %w: %s", errRetryable, raftnode.ErrNotLeader, msg)
	case http.StatusBadRequest:
		return 0, fmt.Errorf("%w: %s", command.ErrInvalidMutation, msg)
	case http.StatusRequestEntityTooLarge:
		return 0, fmt.Errorf("%w: %s", ErrMutationTooLarge, msg)
	}
	return 0, fmt.Errorf("leader refused the mutation (%d): %s", code, msg)
}

// isDialError reports a connection that was never made, so the request was
// never sent: the leader may have just gone, and asking again is safe.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
