package faultnet

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/clusteragent/agent/internal/mux"
)

// TestBelowMux wraps the agent's shared Raft port the way agent.startRaft
// would: the mux sub-listener and mux.Dialer, so the protocol byte is
// written and read beneath the fault layer.
func TestBelowMux(t *testing.T) {
	noLeaks(t)
	n := NewNetwork(1)
	defer n.Close()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := mux.New(raw)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = m.Serve()
	}()
	defer wg.Wait()
	defer m.Close()

	b := &streamNode{name: "b", addr: m.Addr().String(), accepted: make(chan net.Conn, 4)}
	ln := n.Listener("b", m.Listener(mux.ProtoRaft))
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepted <- c
		}
	}()
	a := &streamNode{name: "a", dial: n.Dialer("a", mux.Dialer(mux.ProtoRaft))}

	ab, ba := mustConnect(t, a, b)
	defer ba.Close()
	if err := send(ab, ba, "raft rpc"); err != nil {
		t.Fatal(err)
	}
	must(t, n.Partition([]string{"a"}, []string{"b"}))
	_ = ba.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := ba.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("mux stream after partition: %v, want a broken stream", err)
	}
	expectBlackholed(t, a, b)
	n.Heal()
	ab2, ba2 := mustConnect(t, a, b)
	defer ba2.Close()
	if err := send(ab2, ba2, "after heal"); err != nil {
		t.Fatal(err)
	}
}
