package chaos

import (
	"github.com/clusteragent/agent/api"

	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A refused dial proves the server never saw the request; a timeout after
// the request was sent proves nothing. The classification decides between
// "not applied" and "unknown", so a mistake here would make a correct store
// look broken or let a lost write through.
func TestRefusedClassification(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	put := func(addr string) error {
		c, err := api.NewClient(api.Config{Address: addr, Timeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.KVPut(context.Background(), "x", nil, nil)
		return err
	}
	err = put(closed)
	if err == nil || !refused(err) {
		t.Errorf("dial to a closed port: err %v, refused %v; want refused", err, refused(err))
	}

	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer srv.Close()
	defer close(hang)
	err = put(srv.URL)
	if err == nil || refused(err) {
		t.Errorf("timeout after sending: err %v, refused %v; want an error that is not refused", err, refused(err))
	}
}

func TestFirstAckAfter(t *testing.T) {
	base := time.Now()
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	var l ackLog
	l.add(ack{Sent: at(0), At: at(50)})   // sent before: ignored even though acked after
	l.add(ack{Sent: at(20), At: at(400)}) // sent after, acked late
	l.add(ack{Sent: at(30), At: at(100)}) // sent after, acked first
	got, ok := l.firstAfter(at(10))
	if !ok || !got.Equal(at(100)) {
		t.Errorf("firstAfter = %v, %v; want %v", got.Sub(base), ok, 100*time.Millisecond)
	}
	if _, ok := l.firstAfter(at(500)); ok {
		t.Error("firstAfter past every send found an ack")
	}
}
