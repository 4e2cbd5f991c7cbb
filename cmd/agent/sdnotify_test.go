package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/testutil"
)

// notifyListener is the service manager's end of $NOTIFY_SOCKET.
type notifyListener struct {
	conn *net.UnixConn
	name string // the value for NOTIFY_SOCKET
}

// listenNotify listens on a unix datagram socket: a path in a short
// temporary dir (socket paths are limited to 107 bytes), or an abstract
// socket when abstract is set.
func listenNotify(t *testing.T, abstract bool) *notifyListener {
	t.Helper()
	var name string
	if abstract {
		name = "@agent-notify-test-" + strconv.Itoa(os.Getpid()) + "-" + strings.ReplaceAll(t.Name(), "/", "-")
	} else {
		dir, err := os.MkdirTemp("", "sdn")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		name = filepath.Join(dir, "notify")
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", name, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &notifyListener{conn: conn, name: name}
}

// next reads one datagram, waiting at most d.
func (l *notifyListener) next(d time.Duration) (string, error) {
	if err := l.conn.SetReadDeadline(time.Now().Add(d)); err != nil {
		return "", err
	}
	buf := make([]byte, 4096)
	n, err := l.conn.Read(buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// await reads datagrams until one equals want, failing with what it read.
func (l *notifyListener) await(t *testing.T, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	var seen []string
	for time.Now().Before(deadline) {
		msg, err := l.next(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for %q on %s: %v; got before: %q", want, l.name, err, seen)
		}
		if msg == want {
			return
		}
		seen = append(seen, msg)
	}
	t.Fatalf("no %q on %s within %s; got %q", want, l.name, d, seen)
}

func TestSdNotifyUnsetSendsNothing(t *testing.T) {
	t.Setenv(notifySocketEnv, "")
	if sent, err := sdNotify("READY=1"); sent || err != nil {
		t.Fatalf("sdNotify without %s = %v, %v; want false, nil", notifySocketEnv, sent, err)
	}
}

func TestSdNotifyPathAndAbstractSockets(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		l := listenNotify(t, abstract)
		t.Setenv(notifySocketEnv, l.name)
		if sent, err := sdNotify("READY=1"); !sent || err != nil {
			t.Fatalf("sdNotify to %s = %v, %v", l.name, sent, err)
		}
		if msg, err := l.next(5 * time.Second); err != nil || msg != "READY=1" {
			t.Fatalf("%s received %q, %v; want READY=1", l.name, msg, err)
		}
	}
	t.Setenv(notifySocketEnv, filepath.Join(t.TempDir(), "absent"))
	if _, err := sdNotify("READY=1"); err == nil || !strings.Contains(err.Error(), notifySocketEnv) {
		t.Fatalf("sdNotify to a missing socket: %v, want an error naming %s", err, notifySocketEnv)
	}
}

// TestBinaryNotifiesReadyAndStopping runs the built agent as systemd would
// with Type=notify: a server whose only seed does not answer yet is not
// ready; once the seed is up it sends READY=1 (with its HTTP API serving),
// and on SIGTERM it sends STOPPING=1 and exits 0.
func TestBinaryNotifiesReadyAndStopping(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two agent processes")
	}
	ports := testutil.FreePorts(t, 6)
	seedGossip := "127.0.0.1:" + strconv.Itoa(ports[0])
	l := listenNotify(t, false)
	httpAddr := "127.0.0.1:" + strconv.Itoa(ports[5])
	p := startProcEnv(t, "notified", []string{notifySocketEnv + "=" + l.name},
		"-bind", "127.0.0.1", "-gossip-port", strconv.Itoa(ports[3]), "-raft-port", strconv.Itoa(ports[4]),
		"-http-addr", httpAddr, "-join", seedGossip, "-no-bootstrap", "-log-level", "debug")

	// Its API serves, and a join attempt has failed: still not ready.
	testutil.WaitFor(t, 30*time.Second, func() error {
		if err := live(httpAddr); err != nil {
			return err
		}
		b, _ := os.ReadFile(p.log)
		if !strings.Contains(string(b), "could not join any seed") {
			return errors.New("no failed join attempt logged yet")
		}
		return nil
	})
	if msg, err := l.next(time.Millisecond); err == nil {
		t.Fatalf("notified %q before its seed answered", msg)
	}

	startProc(t, "seed", "-bind", "127.0.0.1", "-gossip-port", strconv.Itoa(ports[0]),
		"-raft-port", strconv.Itoa(ports[1]), "-http-addr", "127.0.0.1:"+strconv.Itoa(ports[2]),
		"-bootstrap-preferred")
	l.await(t, "READY=1", 60*time.Second)
	if err := live(httpAddr); err != nil {
		t.Fatalf("READY=1 sent but the API does not answer: %v", err)
	}
	if err := p.ps.Send(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	l.await(t, "STOPPING=1", 30*time.Second)
	select {
	case <-p.done:
		if p.exitErr() != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", p.exitErr(), p.tail())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after SIGTERM\n%s", p.tail())
	}
}

// live fails unless the agent at addr answers GET /v1/health/live with 200.
func live(addr string) error {
	c, err := agentAPIWithin(addr, 5*time.Second)
	if err != nil {
		return err
	}
	return c.Live(context.Background())
}
