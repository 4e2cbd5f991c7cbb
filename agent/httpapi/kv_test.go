package httpapi

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestKVPutGetDelete(t *testing.T) {
	srv := startServer(t, &fakeBackend{leader: true}, Config{})
	res := call(t, srv, "PUT", "/v1/kv/app/color", nil, strings.NewReader("blue"))
	var w KVWrite
	res.decode(t, &w)
	if res.code != 200 || !w.OK || w.Index == 0 {
		t.Fatalf("put: %d %s", res.code, res.body)
	}
	res = call(t, srv, "GET", "/v1/kv/app/color", nil, nil)
	var e KVEntry
	res.decode(t, &e)
	if res.code != 200 || e.Key != "app/color" || string(e.Value) != "blue" || e.CreateIndex != w.Index || e.ModifyIndex != w.Index {
		t.Fatalf("get: %d %+v", res.code, e)
	}
	// The JSON value is base64, as README.md#http-api says.
	if !strings.Contains(string(res.body), `"value":"Ymx1ZQ=="`) {
		t.Errorf("value not base64 in %s", res.body)
	}
	if res.header.Get(HeaderIndex) == "" || res.header.Get(HeaderKnownLeader) != "true" || res.header.Get(HeaderStale) != "" {
		t.Errorf("read headers: %v", res.header)
	}
	res = call(t, srv, "DELETE", "/v1/kv/app/color", nil, nil)
	res.decode(t, &w)
	if res.code != 200 || !w.OK {
		t.Fatalf("delete: %d %s", res.code, res.body)
	}
	if res = call(t, srv, "GET", "/v1/kv/app/color", nil, nil); res.code != 404 || res.errMsg(t) == "" {
		t.Fatalf("get after delete: %d %s", res.code, res.body)
	}
}

func TestKVCompareAndSet(t *testing.T) {
	srv := startServer(t, &fakeBackend{leader: true}, Config{})
	put := func(path, body string) KVWrite {
		t.Helper()
		res := call(t, srv, "PUT", path, nil, strings.NewReader(body))
		if res.code != 200 {
			t.Fatalf("PUT %s: %d %s", path, res.code, res.body)
		}
		var w KVWrite
		res.decode(t, &w)
		return w
	}
	first := put("/v1/kv/k?cas=0", "a")
	if !first.OK {
		t.Fatal("cas=0 on an absent key failed")
	}
	if put("/v1/kv/k?cas=0", "b").OK {
		t.Fatal("cas=0 on a present key succeeded")
	}
	if put("/v1/kv/k?cas=999", "b").OK {
		t.Fatal("cas with a wrong index succeeded")
	}
	if !put("/v1/kv/k?cas="+itoa(first.Index), "c").OK {
		t.Fatal("cas with the modify index failed")
	}
	for _, bad := range []string{"abc", "-1", "1.5", ""} {
		res := call(t, srv, "PUT", "/v1/kv/k?cas="+bad, nil, strings.NewReader("x"))
		if res.code != 400 || !strings.Contains(res.errMsg(t), "cas") {
			t.Errorf("cas=%q: %d %s", bad, res.code, res.body)
		}
	}
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestKVListByPrefix(t *testing.T) {
	srv := startServer(t, &fakeBackend{leader: true}, Config{})
	res := call(t, srv, "GET", "/v1/kv/?prefix=none/", nil, nil)
	if res.code != 200 || strings.TrimSpace(string(res.body)) != "[]" {
		t.Fatalf("empty list: %d %s", res.code, res.body)
	}
	for _, k := range []string{"a/2", "a/1", "b/1"} {
		call(t, srv, "PUT", "/v1/kv/"+k, nil, strings.NewReader(k))
	}
	var list []KVEntry
	call(t, srv, "GET", "/v1/kv/?prefix=a/", nil, nil).decode(t, &list)
	if len(list) != 2 || list[0].Key != "a/1" || list[1].Key != "a/2" {
		t.Fatalf("list a/: %+v", list)
	}
}

func TestKVBadInput(t *testing.T) {
	srv := startServer(t, &fakeBackend{leader: true}, Config{MaxBodyBytes: 16})
	if res := call(t, srv, "PUT", "/v1/kv/a/../b", nil, strings.NewReader("x")); res.code/100 != 4 || res.errMsg(t) == "" {
		t.Errorf("bad key: %d %s", res.code, res.body)
	}
	if res := call(t, srv, "PUT", "/v1/kv/big", nil, strings.NewReader(strings.Repeat("x", 17))); res.code != 413 {
		t.Errorf("oversized value: %d %s", res.code, res.body)
	}
	if res := call(t, srv, "PUT", "/v1/kv/", nil, strings.NewReader("x")); res.code != 400 {
		t.Errorf("empty key: %d %s", res.code, res.body)
	}
	if res := call(t, srv, "POST", "/v1/kv/k", nil, strings.NewReader("x")); res.code != 405 || res.header.Get("Allow") == "" {
		t.Errorf("POST: %d %v", res.code, res.header)
	}
}

func TestKVStaleReadServedLocallyAndMarked(t *testing.T) {
	b := &fakeBackend{leader: true}
	srv := startServer(t, b, Config{})
	call(t, srv, "PUT", "/v1/kv/k", nil, strings.NewReader("v"))
	b.set(func(f *fakeBackend) { f.leader = false; f.leaderAddr = "" })
	res := call(t, srv, "GET", "/v1/kv/k?stale", nil, nil)
	if res.code != 200 || res.header.Get(HeaderStale) != "true" || res.header.Get(HeaderKnownLeader) != "false" {
		t.Fatalf("stale read: %d %v %s", res.code, res.header, res.body)
	}
}

func TestKVFollowerForwardsWritesAndLinearizableReads(t *testing.T) {
	leader, follower, _, fs := pair(t, Config{})
	res := call(t, fs, "PUT", "/v1/kv/k", nil, strings.NewReader("v"))
	if res.code != 200 {
		t.Fatalf("forwarded put: %d %s", res.code, res.body)
	}
	if leader.kv == nil || leader.kv.writes != 1 || (follower.kv != nil && follower.kv.writes != 0) {
		t.Fatal("the write was not done by the leader")
	}
	res = call(t, fs, "GET", "/v1/kv/k", nil, nil)
	var e KVEntry
	res.decode(t, &e)
	if res.code != 200 || string(e.Value) != "v" || res.header.Get(HeaderIndex) == "" {
		t.Fatalf("forwarded read: %d %s %v", res.code, res.body, res.header)
	}
}

func TestKVNoLeaderAnswers503WithinTheWait(t *testing.T) {
	srv := startServer(t, &fakeBackend{}, Config{LeaderWait: 300 * time.Millisecond})
	for _, c := range []struct{ method, path string }{{"PUT", "/v1/kv/k"}, {"GET", "/v1/kv/k"}, {"DELETE", "/v1/kv/k"}} {
		start := time.Now()
		res := call(t, srv, c.method, c.path, nil, strings.NewReader("v"))
		elapsed := time.Since(start)
		if res.code != http.StatusServiceUnavailable || !strings.Contains(res.errMsg(t), "leader") {
			t.Errorf("%s %s: %d %s", c.method, c.path, res.code, res.body)
		}
		if elapsed < 300*time.Millisecond || elapsed > 5*time.Second {
			t.Errorf("%s %s answered after %s; want the 300ms wait, bounded", c.method, c.path, elapsed)
		}
	}
	// A stale read needs no leader.
	if res := call(t, srv, "GET", "/v1/kv/k?stale", nil, nil); res.code != 404 {
		t.Errorf("stale read without leader: %d %s", res.code, res.body)
	}
}

func TestKVNeedsToken(t *testing.T) {
	b := &fakeBackend{leader: true}
	srv := startServer(t, b, Config{Token: "s3cret"})
	if res := call(t, srv, "PUT", "/v1/kv/k", nil, strings.NewReader("v")); res.code != 401 {
		t.Errorf("no token: %d", res.code)
	}
	if res := call(t, srv, "PUT", "/v1/kv/k", map[string]string{"Authorization": "Bearer nope"}, strings.NewReader("v")); res.code != 403 {
		t.Errorf("wrong token: %d", res.code)
	}
	if res := call(t, srv, "DELETE", "/v1/kv/k", map[string]string{"Authorization": "Bearer s3cret!"}, nil); res.code != 403 {
		t.Errorf("token with a suffix: %d", res.code)
	}
	b.set(func(f *fakeBackend) {
		if f.kv != nil && f.kv.writes != 0 {
			t.Errorf("%d writes reached the store without a valid token", f.kv.writes)
		}
	})
	if res := call(t, srv, "PUT", "/v1/kv/k", map[string]string{"Authorization": "Bearer s3cret"}, strings.NewReader("v")); res.code != 200 {
		t.Errorf("right token: %d %s", res.code, res.body)
	}
}

func TestOpenReadsNeedNoTokenButWritesDo(t *testing.T) {
	b := &fakeBackend{leader: true}
	srv := startServer(t, b, Config{Token: "s3cret", OpenReads: true})
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	if res := call(t, srv, "PUT", "/v1/kv/k", auth, strings.NewReader("v")); res.code != 200 {
		t.Fatalf("put with token: %d %s", res.code, res.body)
	}
	for _, path := range []string{"/v1/kv/k", "/v1/kv/?prefix=", "/v1/status", "/v1/members", "/v1/raft/configuration"} {
		if res := call(t, srv, "GET", path, nil, nil); res.code == 401 || res.code == 403 {
			t.Errorf("GET %s without token: %d", path, res.code)
		}
	}
	for _, c := range []struct{ method, path string }{
		{"PUT", "/v1/kv/k"}, {"DELETE", "/v1/kv/k"}, {"DELETE", "/v1/raft/peers/x"},
		{"POST", "/v1/raft/transfer-leadership"}, {"POST", "/v1/agent/leave"}, {"GET", "/v1/internal/stats"},
	} {
		if res := call(t, srv, c.method, c.path, nil, strings.NewReader("v")); res.code != 401 {
			t.Errorf("%s %s without token: %d, want 401", c.method, c.path, res.code)
		}
	}
}

// TestKVWriteJSONMatchesEncodingJSON: the hand-written encoding of the
// write answer must be exactly what encoding/json writes.
func TestKVWriteJSONMatchesEncodingJSON(t *testing.T) {
	for _, w := range []KVWrite{{}, {OK: true, Index: 1}, {OK: false, Index: 42}, {OK: true, Index: math.MaxUint64}} {
		want, err := json.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(appendKVWrite(nil, w)); got != string(want)+"\n" {
			t.Errorf("appendKVWrite(%+v) = %q, want %q", w, got, string(want)+"\n")
		}
	}
}

// TestHeaderKeysAreCanonical: setReadMeta writes the header map directly,
// which is only right for canonical keys.
func TestHeaderKeysAreCanonical(t *testing.T) {
	for _, k := range []string{HeaderIndex, HeaderKnownLeader, HeaderLastContact, HeaderStale, "Content-Type", "X-Content-Type-Options"} {
		if c := http.CanonicalHeaderKey(k); c != k {
			t.Errorf("header %q is not canonical (%q)", k, c)
		}
	}
}
