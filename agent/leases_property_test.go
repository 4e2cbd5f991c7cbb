package agent

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clusteragent/agent/agent/kv"
	"github.com/clusteragent/agent/internal/clock"
	"github.com/clusteragent/agent/raftnode"
)

// leaseSim drives the leader's lease clock (leaseKeeper) and the key/value
// state machine through a random schedule on a fake clock, as the agent
// does: grants, attaches and revokes go through the log, renews only to
// the leader's keeper, and leadership moves. It records, per lease, when
// the last acknowledged grant or renew was sent: the safety rule counts
// from there.
type leaseSim struct {
	rng   *rand.Rand
	clk   *clock.Fake
	store *kv.Store
	index uint64
	// leader is the keeper of the current leader (nil between terms);
	// deposed is an old leader's that has not noticed yet: its renews move
	// its deadlines but cannot be confirmed by a quorum, so none is
	// acknowledged, and its revokes never commit.
	leader, deposed *leaseKeeper
	pending         []uint64 // the leader's decided, uncommitted revokes
	acked           map[uint64]time.Time
	ttl             map[uint64]time.Duration
	attached        map[string]uint64
	trace           []string
}

func newLeaseSim(seed uint64) *leaseSim {
	s := &leaseSim{rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), clk: clock.NewFake(time.Unix(1e6, 0)),
		store: kv.NewStore(kv.DefaultLimits()), acked: map[uint64]time.Time{}, ttl: map[uint64]time.Duration{}, attached: map[string]uint64{}}
	if err := s.elect(); err != nil {
		panic(err) // nothing is pending yet
	}
	return s
}

func (s *leaseSim) logf(format string, args ...any) {
	s.trace = append(s.trace, fmt.Sprintf("%s ", s.clk.Now().Sub(time.Unix(1e6, 0)))+fmt.Sprintf(format, args...))
}

// commit applies m at the next index.
func (s *leaseSim) commit(m raftnode.Mutation) any {
	data, err := m.Encode()
	if err != nil {
		panic(err)
	}
	s.index++
	return s.store.Apply(&raft.Log{Index: s.index, Term: 1, Type: raft.LogCommand, Data: data})
}

// elect ends the current term (its uncommitted revokes commit or are lost,
// as raft decides) and starts a new leader's keeper, after its barrier.
func (s *leaseSim) elect() error {
	for _, id := range s.pending {
		if s.rng.IntN(2) == 0 {
			if err := s.commitRevoke(id, "old leader's revoke committed by the election"); err != nil {
				return err
			}
		}
	}
	s.pending = nil
	if s.leader != nil {
		s.deposed = s.leader
	}
	s.leader = &leaseKeeper{}
	s.leader.start(s.clk.Now(), s.store.View().Leases())
	s.logf("new leader")
	return nil
}

// commitRevoke commits the expiry of id and checks the safety rule then.
func (s *leaseSim) commitRevoke(id uint64, why string) error {
	l, live := s.store.View().Lease(id)
	res := s.commit(kv.LeaseRevokeMutation(id))
	s.logf("revoke %d (%s): %v", id, why, res)
	if !live {
		return nil
	}
	if earliest := s.acked[id].Add(l.TTL); s.clk.Now().Before(earliest) {
		return fmt.Errorf("lease %d (TTL %s) expired at %s, %s before its last acknowledged renew + TTL",
			id, l.TTL, s.clk.Now(), earliest.Sub(s.clk.Now()))
	}
	return nil
}

// step runs one random action and returns a broken safety rule, if any.
func (s *leaseSim) step() error {
	now := s.clk.Now()
	switch r := s.rng.IntN(100); {
	case r < 10:
		ttl := time.Duration(1+s.rng.IntN(4)) * time.Second
		m, _ := kv.LeaseGrantMutation(ttl)
		res := s.commit(m).(kv.Result)
		s.acked[res.Index], s.ttl[res.Index] = now, ttl
		s.logf("grant %d ttl %s", res.Index, ttl)
	case r < 40:
		s.renew(s.pick(), now)
	case r < 50:
		id := s.pick()
		key := fmt.Sprintf("k%d", s.index+1)
		m, _ := kv.PutLeaseMutation(key, []byte("v"), nil, id)
		if res, ok := s.commit(m).(kv.Result); ok && res.OK {
			s.attached[key] = id
		}
		s.logf("attach %s to %d", key, id)
	case r < 75:
		d := time.Duration(s.rng.IntN(1500)) * time.Millisecond
		s.clk.Advance(d)
		s.logf("advance %s", d)
	case r < 95:
		return s.tick(now, true)
	case r < 98:
		return s.elect()
	default:
		s.deposed = nil // the old leader noticed and stopped
	}
	return nil
}

// renew sends a renew of id to the leader and, now and then, to a deposed
// leader too.
func (s *leaseSim) renew(id uint64, now time.Time) {
	l, ok := s.store.View().Lease(id)
	if !ok {
		return
	}
	if s.deposed != nil && s.rng.IntN(3) == 0 {
		s.deposed.renew(id, l.TTL, now) // never confirmed: no ack
		s.logf("renew %d at the deposed leader", id)
	}
	if _, ok := s.leader.renew(id, l.TTL, now); ok {
		s.acked[id] = now
		s.logf("renew %d acknowledged", id)
	}
}

// tick is the leader's expiry loop: due leases are decided, and each
// pending revoke commits or stays to be retried.
func (s *leaseSim) tick(now time.Time, mayFail bool) error {
	if s.deposed != nil {
		s.deposed.sync(now, s.store.View().Leases()) // its revokes cannot commit
	}
	s.pending = append(s.pending, s.leader.sync(now, s.store.View().Leases())...)
	var left []uint64
	for _, id := range s.pending {
		if mayFail && s.rng.IntN(4) == 0 {
			left = append(left, id) // the commit failed; retried next tick
			continue
		}
		if err := s.commitRevoke(id, "expiry"); err != nil {
			return err
		}
	}
	s.pending = left
	return nil
}

// pick returns a lease ID: usually one granted, sometimes one never granted.
func (s *leaseSim) pick() uint64 {
	if len(s.acked) == 0 || s.rng.IntN(10) == 0 {
		return s.index + 1
	}
	ids := make([]uint64, 0, len(s.acked))
	for id := range s.acked {
		ids = append(ids, id)
	}
	return ids[s.rng.IntN(len(ids))]
}

// check asserts the state-machine side after every step: a lease inside
// its safe window (last acknowledged grant or renew + TTL not yet reached)
// still exists, and a key attached to a lease lives exactly as long as it.
func (s *leaseSim) check() error {
	v, now := s.store.View(), s.clk.Now()
	for id, at := range s.acked {
		if _, live := v.Lease(id); !live && now.Before(at.Add(s.ttl[id])) {
			return fmt.Errorf("lease %d is gone %s before its last acknowledged renew + TTL", id, at.Add(s.ttl[id]).Sub(now))
		}
	}
	for key, id := range s.attached {
		_, live := v.Lease(id)
		if _, present := v.Get(key); live != present {
			return fmt.Errorf("%s present=%v but its lease %d live=%v", key, present, id, live)
		}
	}
	return nil
}

// TestLeaseSafetyProperty: over random schedules of grants, renews (to the
// leader and to a deposed leader), attaches, clock advances, expiry ticks
// with failing commits and leader changes, no lease is revoked by expiry
// before its TTL has passed since the last acknowledged grant or renew,
// keys live exactly as long as their lease, and an expired lease is really
// expired once every deadline has passed.
func TestLeaseSafetyProperty(t *testing.T) {
	schedules, steps := 300, 400
	if testing.Short() {
		schedules = 50
	}
	expired := 0
	for seed := range uint64(schedules) {
		s := newLeaseSim(seed)
		for range steps {
			err := s.step()
			if err == nil {
				err = s.check()
			}
			if err != nil {
				tail := s.trace[max(0, len(s.trace)-30):]
				t.Fatalf("seed %d: %v\nlast steps:\n  %s", seed, err, strings.Join(tail, "\n  "))
			}
		}
		// Liveness: with time moving and ticks running, every lease not
		// renewed any more goes within its TTL plus a tick.
		// The first tick adopts leases granted since the last one.
		for _, d := range []time.Duration{0, 10 * time.Second} { // more than any TTL granted
			s.clk.Advance(d)
			if err := s.tick(s.clk.Now(), false); err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
		}
		if n := len(s.store.View().Leases()); n != 0 {
			t.Fatalf("seed %d: %d leases outlived every deadline", seed, n)
		}
		expired += len(s.acked)
	}
	if expired == 0 {
		t.Fatal("the schedules granted no lease")
	}
}
