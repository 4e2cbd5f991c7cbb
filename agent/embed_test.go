package agent

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/clusteragent/agent/raftnode"
	"github.com/clusteragent/agent/raftnode/command"
)

func TestDecodeApplyAnswer(t *testing.T) {
	cases := map[string]struct {
		code      int
		body      string
		wantIndex uint64
		wantIs    []error
		notIs     []error
		wantMsg   string
	}{
		"applied":           {200, `{"index":7}`, 7, nil, []error{errRetryable, raftnode.ErrFSM}, ""},
		"refused by fsm":    {200, `{"index":8,"fsm_error":"cas failed"}`, 8, []error{raftnode.ErrFSM}, []error{errRetryable}, "cas failed"},
		"garbled ok":        {200, `{"index":`, 0, nil, []error{errRetryable}, "leader's answer"},
		"moved leader":      {421, `{"error":"not the leader"}`, 0, []error{errRetryable, raftnode.ErrNotLeader}, nil, "not the leader"},
		"bad mutation":      {400, `{"error":"bad type length"}`, 0, []error{command.ErrInvalidMutation}, []error{errRetryable}, "bad type length"},
		"too large":         {413, `{"error":"too big"}`, 0, []error{ErrMutationTooLarge}, []error{errRetryable}, "too big"},
		"forbidden":         {403, `{"error":"invalid token"}`, 0, nil, []error{errRetryable}, "invalid token"},
		"unavailable plain": {503, `oops`, 0, nil, []error{errRetryable}, "status 503"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			idx, err := decodeApplyAnswer(tc.code, []byte(tc.body))
			if idx != tc.wantIndex {
				t.Errorf("index %d, want %d", idx, tc.wantIndex)
			}
			if tc.wantMsg == "" {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantMsg)
			}
			for _, want := range tc.wantIs {
				if !errors.Is(err, want) {
					t.Errorf("%v does not match %v", err, want)
				}
			}
			for _, not := range tc.notIs {
				if errors.Is(err, not) {
					t.Errorf("%v matches %v", err, not)
				}
			}
		})
	}
}

func FuzzDecodeApplyAnswer(f *testing.F) {
	f.Add(200, []byte(`{"index":1,"fsm_error":"x"}`))
	f.Add(421, []byte(`{"error":"not the leader"}`))
	f.Add(500, []byte{0xff})
	f.Fuzz(func(t *testing.T, code int, body []byte) {
		idx, err := decodeApplyAnswer(code, body)
		if code != http.StatusOK && (err == nil || idx != 0) {
			t.Fatalf("status %d answered index %d, error %v", code, idx, err)
		}
	})
}

// batchFSM records what reaches it.
type batchFSM struct{ seen []uint64 }

func (f *batchFSM) Apply(l *raft.Log) interface{} { return f.ApplyBatch([]*raft.Log{l})[0] }
func (f *batchFSM) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	for i, l := range logs {
		f.seen = append(f.seen, l.Index)
		out[i] = l.Index * 10
	}
	return out
}
func (f *batchFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, errors.New("none") }
func (f *batchFSM) Restore(io.ReadCloser) error         { return nil }

// plainFSM is batchFSM without ApplyBatch.
type plainFSM struct{ b batchFSM }

func (f *plainFSM) Apply(l *raft.Log) interface{}       { return f.b.Apply(l) }
func (f *plainFSM) Snapshot() (raft.FSMSnapshot, error) { return f.b.Snapshot() }
func (f *plainFSM) Restore(rc io.ReadCloser) error      { return f.b.Restore(rc) }

func TestUserFSMWrapperHidesReadMarkers(t *testing.T) {
	cmd := func(i uint64) *raft.Log {
		return &raft.Log{Index: i, Type: raft.LogCommand, Data: []byte{command.BinaryMagic, 1, 'x'}}
	}
	marker := func(i uint64) *raft.Log { return &raft.Log{Index: i, Type: raft.LogCommand, Data: readMarker} }

	user := &batchFSM{}
	fsm, w := wrapUserFSM(user)
	batcher, ok := fsm.(raft.BatchingFSM)
	if !ok {
		t.Fatal("a batching user FSM lost ApplyBatch in the wrapper")
	}
	resp := batcher.ApplyBatch([]*raft.Log{cmd(1), marker(2), cmd(3), marker(4)})
	if want := []interface{}{uint64(10), nil, uint64(30), nil}; len(resp) != 4 || resp[0] != want[0] || resp[1] != nil || resp[2] != want[2] || resp[3] != nil {
		t.Fatalf("responses %v, want %v", resp, want)
	}
	if len(user.seen) != 2 || user.seen[0] != 1 || user.seen[1] != 3 {
		t.Fatalf("user FSM saw %v, want [1 3]", user.seen)
	}
	if got := w.applied.Load(); got != 4 {
		t.Fatalf("applied index %d, want 4 (a trailing marker counts)", got)
	}

	plain := &plainFSM{}
	fsm, w = wrapUserFSM(plain)
	if _, ok := fsm.(raft.BatchingFSM); ok {
		t.Fatal("a plain user FSM became batching")
	}
	if r := fsm.Apply(marker(5)); r != nil || len(plain.b.seen) != 0 || w.applied.Load() != 5 {
		t.Fatalf("marker: response %v, user saw %v, applied %d", r, plain.b.seen, w.applied.Load())
	}
	if r := fsm.Apply(cmd(6)); r != uint64(60) || w.applied.Load() != 6 {
		t.Fatalf("command: response %v, applied %d", r, w.applied.Load())
	}
}

func TestForwardedApplyRefusals(t *testing.T) {
	a := &Agent{cfg: Config{HTTP: HTTPConfig{Token: "s3cret"}}, user: &indexFSM{}}
	h := a.rpcHandler(http.NotFoundHandler())
	cases := map[string]struct {
		auth string
		body []byte
		want int
	}{
		"no token":     {"", readMarker, http.StatusUnauthorized},
		"wrong token":  {"Bearer nope", readMarker, http.StatusForbidden},
		"not mutation": {"Bearer s3cret", []byte("\x00raftnode.cluster-id\x00x"), http.StatusBadRequest},
		"empty body":   {"Bearer s3cret", nil, http.StatusBadRequest},
		"too large":    {"Bearer s3cret", bytes.Repeat([]byte{1}, MaxMutationBytes+1), http.StatusRequestEntityTooLarge},
		"other route":  {"Bearer s3cret", nil, http.StatusNotFound},
		"wrong method": {"Bearer s3cret", nil, http.StatusMethodNotAllowed},
		"unclean path": {"Bearer s3cret", nil, http.StatusNotFound},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			method, path := http.MethodPost, applyPath
			switch name {
			case "other route":
				path = "/v1/elsewhere"
			case "wrong method":
				method = http.MethodGet
			case "unclean path":
				path = "/v1/x/../internal/apply" // to the API, not cleaned into applyPath
			}
			req := httptest.NewRequest(method, path, bytes.NewReader(tc.body))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d (%s), want %d", rec.Code, rec.Body, tc.want)
			}
		})
	}
}
