package agent

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusteragent/agent/agent/autopilot"
	"github.com/clusteragent/agent/discovery"
	"github.com/clusteragent/agent/internal/clock"
	"github.com/clusteragent/agent/raftnode"
)

func server(id, addr string, status discovery.Status) discovery.Member {
	return discovery.Member{ID: id, Status: status, Instance: "inst-" + id,
		Meta: discovery.Meta{ID: id, RaftAddr: addr, Role: discovery.RoleServer, ClusterID: "c1"}}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	conf := raftnode.Configuration{Servers: []raftnode.Server{
		{ID: "self", Address: "10.0.0.1:7000"}, {ID: "n2", Address: "10.0.0.2:7000"},
	}}
	client := server("c", "", discovery.StatusAlive)
	client.Meta.Role = discovery.RoleClient
	other := server("n9", "10.0.0.9:7000", discovery.StatusAlive)
	other.Meta.ClusterID = "c2"
	fresh := server("n3", "10.0.0.3:7000", discovery.StatusAlive)
	fresh.Meta.ClusterID = ""
	removed := tombstone{until: now.Add(time.Second), instance: "inst-n3"}
	cases := map[string]struct {
		member    discovery.Member
		clusterID string
		tomb      *tombstone
		want      reconcileAction
	}{
		"self":                          {member: server("self", "10.0.0.7:7000", discovery.StatusAlive), want: actNone},
		"client member":                 {member: client, want: actNone},
		"no raft address":               {member: server("n3", "", discovery.StatusAlive), want: actNone},
		"another cluster":               {member: other, clusterID: "c1", want: actNone},
		"another cluster, we are fresh": {member: other, want: actAdd},
		"fresh member joins us":         {member: fresh, clusterID: "c1", want: actAdd},
		"alive, already in raft":        {member: server("n2", "10.0.0.2:7000", discovery.StatusAlive), want: actNone},
		"alive, new address":            {member: server("n2", "10.0.0.5:7000", discovery.StatusAlive), want: actUpdate},
		"alive, not in raft":            {member: server("n3", "10.0.0.3:7000", discovery.StatusAlive), want: actAdd},
		"removed incarnation":           {member: server("n3", "10.0.0.3:7000", discovery.StatusAlive), tomb: &removed, want: actNone},
		"removed, new incarnation":      {member: fresh2(), tomb: &removed, want: actAdd},
		"tombstone expired":             {member: server("n3", "10.0.0.3:7000", discovery.StatusAlive), tomb: &tombstone{until: now, instance: "inst-n3"}, want: actAdd},
		"tombstone, address update":     {member: server("n2", "10.0.0.5:7000", discovery.StatusAlive), tomb: &tombstone{until: now.Add(time.Second)}, want: actUpdate},
		"left, in raft":                 {member: server("n2", "10.0.0.2:7000", discovery.StatusLeft), want: actPrune},
		"left, not in raft":             {member: server("n3", "10.0.0.3:7000", discovery.StatusLeft), want: actNone},
		"dead, in raft: autopilot's":    {member: server("n2", "10.0.0.2:7000", discovery.StatusDead), want: actNone},
		"suspect, not in raft":          {member: server("n3", "10.0.0.3:7000", discovery.StatusSuspect), want: actNone},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			in := reconcileInput{self: "self", clusterID: tc.clusterID, member: tc.member, conf: conf, now: now}
			if tc.tomb != nil {
				in.tomb, in.hasTomb = *tc.tomb, true
			}
			if got := decide(in); got != tc.want {
				t.Errorf("decide = %v, want %v", got, tc.want)
			}
		})
	}
}

func fresh2() discovery.Member {
	m := server("n3", "10.0.0.3:7000", discovery.StatusAlive)
	m.Instance = "inst-n3-restarted"
	return m
}

type fakeReconcileRaft struct{ conf raftnode.Configuration }

func (f fakeReconcileRaft) GetConfiguration(context.Context) (raftnode.Configuration, error) {
	return f.conf, nil
}
func (f fakeReconcileRaft) Addr() string { return "10.0.0.1:7000" }

type fakeMembers struct{ members []discovery.Member }

func (f fakeMembers) Members() []discovery.Member   { return f.members }
func (f fakeMembers) LocalMember() discovery.Member { return f.members[0] }

type recordingServers struct {
	mu     sync.Mutex
	added  []string
	pruned int
}

func (r *recordingServers) AddServer(m autopilot.Member) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.added = append(r.added, m.ID)
	return nil
}
func (r *recordingServers) RemoveDeadServers() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruned++
}
func (r *recordingServers) prunes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pruned
}
func (r *recordingServers) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.added)
}

// TestReconcileBurstDoesNotStall: N new servers whose verification hangs
// for its whole timeout must not stall the loop N times that long. While
// they hang the loop keeps answering events (a member that left is pruned
// at once), at most maxVerifying run at a time, none is lost once they
// answer, and ending the leader's context ends the loop promptly.
func TestReconcileBurstDoesNotStall(t *testing.T) {
	t.Parallel()
	const n = 12
	members := []discovery.Member{server("self", "10.0.0.1:7000", discovery.StatusAlive)}
	for i := range n {
		members = append(members, server(fmt.Sprintf("slow%02d", i), fmt.Sprintf("10.0.1.%d:7000", i), discovery.StatusAlive))
	}
	var mu sync.Mutex
	running, peak := 0, 0
	release := make(chan struct{})
	verify := func(ctx context.Context, m discovery.Member) error {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		defer func() { mu.Lock(); running--; mu.Unlock() }()
		select { // hangs until the test lets it answer or the leader's context ends
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	events := make(chan discovery.Member)
	servers := &recordingServers{}
	conf := raftnode.Configuration{Servers: []raftnode.Server{{ID: "self", Address: "10.0.0.1:7000"}, {ID: "gone", Address: "10.0.0.8:7000"}}}
	r := &reconciler{
		self: "self", clusterID: func() string { return "c1" }, ensureClusterID: func(context.Context) {},
		raft: fakeReconcileRaft{conf: conf}, members: fakeMembers{members: members}, servers: servers, verify: verify,
		tombstones: newTombstones(), events: events, clock: clock.NewFake(time.Unix(0, 0)),
		interval: time.Hour, logger: hclog.NewNullLogger(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	// The full reconcile at the start met n slow servers. Well within one
	// verification's timeout, the loop must take the next events and prune.
	start := time.Now()
	for range 3 {
		select {
		case events <- server("gone", "10.0.0.8:7000", discovery.StatusLeft):
		case <-time.After(verifyTimeout):
			t.Fatalf("the loop did not take an event within %v while %d verifications hang", verifyTimeout, n)
		}
	}
	if waited := time.Since(start); waited >= verifyTimeout {
		t.Errorf("events waited %v behind hanging verifications", waited)
	}
	if got := servers.prunes(); got < 2 {
		t.Errorf("%d prunes ran for a member that left, want the loop to handle the events", got)
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for servers.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d verified servers added", servers.count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	gotPeak := peak
	mu.Unlock()
	if gotPeak > maxVerifying || gotPeak == 0 {
		t.Errorf("%d verifications ran at once, want 1..%d", gotPeak, maxVerifying)
	}
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(verifyTimeout):
		t.Fatal("Run did not return after the leader's context ended")
	}
}

// TestReconcileStopsHangingVerifications: a verification that hangs ends
// with the leader's context, and Run waits for it.
func TestReconcileStopsHangingVerifications(t *testing.T) {
	t.Parallel()
	members := []discovery.Member{server("self", "10.0.0.1:7000", discovery.StatusAlive), server("n2", "10.0.0.2:7000", discovery.StatusAlive)}
	started := make(chan struct{})
	var ended sync.WaitGroup
	ended.Add(1)
	verify := func(ctx context.Context, m discovery.Member) error {
		defer ended.Done()
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}
	servers := &recordingServers{}
	r := &reconciler{
		self: "self", clusterID: func() string { return "c1" }, ensureClusterID: func(context.Context) {},
		raft:    fakeReconcileRaft{conf: raftnode.Configuration{Servers: []raftnode.Server{{ID: "self", Address: "10.0.0.1:7000"}}}},
		members: fakeMembers{members: members}, servers: servers, verify: verify,
		tombstones: newTombstones(), events: make(chan discovery.Member), clock: clock.NewFake(time.Unix(0, 0)),
		interval: time.Hour, logger: hclog.NewNullLogger(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-started
	cancel()
	select {
	case <-done:
	case <-time.After(verifyTimeout):
		t.Fatal("Run did not return after the leader's context ended")
	}
	ended.Wait() // Run returned, so the worker must be done already
	if servers.count() != 0 {
		t.Errorf("a server whose verification was cancelled was added: %v", servers.added)
	}
}

func TestReconcileQueueCountsDrops(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	q, err := newReconcileQueue(1, reg)
	if err != nil {
		t.Fatal(err)
	}
	m := server("n2", "10.0.0.2:7000", discovery.StatusAlive)
	if !q.offer(m) {
		t.Fatal("first offer into an empty queue was dropped")
	}
	for range 2 {
		if q.offer(m) {
			t.Fatal("offer into a full queue was not dropped")
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got float64 = -1
	for _, f := range families {
		if f.GetName() == "agent_reconcile_dropped_total" {
			got = f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if got != 2 {
		t.Errorf("agent_reconcile_dropped_total = %v, want 2", got)
	}
}
