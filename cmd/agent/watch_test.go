package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

func TestDiffEntries(t *testing.T) {
	e := func(k string, mod uint64) kvEntry { return kvEntry{Key: k, Value: []byte("v"), ModifyIndex: mod} }
	tests := map[string]struct {
		seen, next map[string]kvEntry
		want       []string // "index op key"
	}{
		"first read":      {seen: map[string]kvEntry{}, next: map[string]kvEntry{"b": e("b", 3), "a": e("a", 5)}, want: []string{"3 put b", "5 put a"}},
		"nothing changed": {seen: map[string]kvEntry{"a": e("a", 5)}, next: map[string]kvEntry{"a": e("a", 5)}},
		"modified":        {seen: map[string]kvEntry{"a": e("a", 5)}, next: map[string]kvEntry{"a": e("a", 8)}, want: []string{"8 put a"}},
		"deleted":         {seen: map[string]kvEntry{"a": e("a", 5), "b": e("b", 6)}, next: map[string]kvEntry{"b": e("b", 6)}, want: []string{"9 delete a"}},
		"folded":          {seen: map[string]kvEntry{"a": e("a", 5)}, next: map[string]kvEntry{"c": e("c", 7)}, want: []string{"7 put c", "9 delete a"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, ch := range diffEntries(tc.seen, tc.next, 9) {
				got = append(got, fmt.Sprintf("%d %s %s", ch.Index, ch.Op, ch.Key))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if !reflect.DeepEqual(tc.seen, tc.next) {
				t.Fatalf("seen not updated: %v", tc.seen)
			}
		})
	}
}

func TestWatchIndexAndBackoff(t *testing.T) {
	tests := map[string]struct{ held, answered, want uint64 }{
		"first":          {0, 7, 7},
		"forward":        {7, 9, 9},
		"same (timeout)": {9, 9, 9},
		"backwards":      {9, 4, 0},
	}
	for name, tc := range tests {
		if got := nextWatchIndex(tc.held, tc.answered); got != tc.want {
			t.Errorf("%s: nextWatchIndex(%d, %d) = %d, want %d", name, tc.held, tc.answered, got, tc.want)
		}
	}
	d := time.Duration(0)
	for _, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		if d = nextBackoff(d); d != want {
			t.Fatalf("backoff %s, want %s", d, want)
		}
	}
	if nextBackoff(time.Hour) != watchBackoffMax {
		t.Fatal("backoff not capped")
	}
}

func TestBinaryKVWatchUsage(t *testing.T) {
	for _, args := range [][]string{{"kv", "watch"}, {"kv", "watch", "-prefix", "p", "k"}, {"kv", "watch", "-wait", "1h", "k"}} {
		if code, _, errOut := runBinary(t, args...); code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

// httpWrite sends a write to addr until one is acknowledged (a leader may
// be being elected).
func httpWrite(t *testing.T, method, addr, key, value string) {
	t.Helper()
	c, err := agentAPIWithin(addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, crashTimeout, func() error {
		var err error
		switch method {
		case http.MethodPut:
			_, err = c.KVPut(context.Background(), key, []byte(value), nil)
		case http.MethodDelete:
			_, err = c.KVDelete(context.Background(), key, nil)
		default:
			t.Fatalf("httpWrite: method %s is not a write", method)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, key, err)
		}
		return nil
	})
}

// TestBinaryKVWatchSurvivesLeaderKillAndRestart runs `agent kv watch
// -prefix svc/ -json` against the leader of three agent processes, kills
// that leader (kill -9) while changes go on through the others, restarts
// it, and checks that the watcher printed every change, in order.
func TestBinaryKVWatchSurvivesLeaderKillAndRestart(t *testing.T) {
	c := newCrashCluster(t, "wal")
	l := c.waitLeader(0, 1, 2)
	other := c.http((l + 1) % 3)
	out := &syncBuffer{}
	errOut := &syncBuffer{}
	w := exec.Command(agentBinary(t), "kv", "watch", "-json", "-wait", "20s", "-http-addr", c.http(l), "-prefix", "svc/")
	w.Stdout, w.Stderr = out, errOut
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = w.Wait(); close(exited) }()
	t.Cleanup(func() { _ = w.Process.Kill(); <-exited })

	httpWrite(t, "PUT", other, "svc/a", "1")
	waitLines(t, out, errOut, []string{"put svc/a"})
	c.procs[l].kill()
	httpWrite(t, "PUT", other, "svc/b", "2")
	httpWrite(t, "DELETE", other, "svc/a", "")
	c.start(l)
	waitLines(t, out, errOut, []string{"put svc/a", "put svc/b", "delete svc/a"})
	if err := w.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("watch exited with %v after SIGINT; stderr %s", waitErr, errOut)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("watch did not exit on SIGINT")
	}
	t.Logf("watch stderr while its agent was down:\n%s", errOut)
}

// waitLines polls the watcher's JSON output until it shows want (as
// "op key"), in order, and nothing else.
func waitLines(t *testing.T, out, errOut *syncBuffer, want []string) {
	t.Helper()
	testutil.WaitFor(t, 2*crashTimeout, func() error {
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var ch watchChange
			if line == "" {
				continue
			}
			if err := json.Unmarshal([]byte(line), &ch); err != nil {
				return fmt.Errorf("bad line %q: %v", line, err)
			}
			got = append(got, ch.Op+" "+ch.Key)
		}
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("watch printed %v, want %v (stderr %s)", got, want, errOut)
		}
		return nil
	})
}
