package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/clusteragent/agent/raftnode/command"
)

// Mutation types. They are written into the Raft log, so they are part of
// the on-disk format: never rename one; add a new type instead.
const (
	mutRegister   = "service.register"
	mutDeregister = "service.deregister"
)

// errInvalidService is returned for a service without a name or address,
// before proposing it and again by the state machine, which must reject a
// bad entry the same way on every node.
var errInvalidService = errors.New("invalid service")

// Service is one entry of the replicated catalogue.
type Service struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

func (s Service) validate() error {
	switch {
	case s.Name == "":
		return fmt.Errorf("%w: name is empty", errInvalidService)
	case s.Addr == "":
		return fmt.Errorf("%w: addr of %q is empty", errInvalidService, s.Name)
	}
	return nil
}

// registry is the application's state machine: a raft.FSM whose Apply hands
// each entry to a command.Router, which decodes the mutation envelope and calls
// the handler registered for its type. Raft calls Apply, Snapshot and Restore
// from one goroutine; Services is called from any, hence the lock. Handlers
// must be deterministic: every node applies the same entries and must reach
// the same state.
type registry struct {
	mux    *command.Router
	logger hclog.Logger

	mu       sync.RWMutex
	services map[string]Service
}

func newRegistry(logger hclog.Logger) *registry {
	r := &registry{mux: command.NewRouter(), logger: logger.Named("registry"), services: map[string]Service{}}
	r.mux.Handle(mutRegister, r.applyRegister)
	r.mux.Handle(mutDeregister, r.applyDeregister)
	return r
}

// Apply implements raft.FSM. A returned error value rejects the entry: it
// stays committed, and raftnode.Node.Apply reports it wrapped in ErrFSM.
func (r *registry) Apply(l *raft.Log) any { return r.mux.Apply(l) }

func (r *registry) applyRegister(index uint64, payload json.RawMessage) any {
	var s Service
	if err := json.Unmarshal(payload, &s); err != nil {
		return fmt.Errorf("%w: %v", errInvalidService, err)
	}
	if err := s.validate(); err != nil {
		return err
	}
	r.mu.Lock()
	r.services[s.Name] = s
	r.mu.Unlock()
	r.logger.Info("service registered", "name", s.Name, "addr", s.Addr, "index", index)
	return nil
}

// applyDeregister is idempotent: removing an absent service is not an error,
// so a client may safely retry after a timeout.
func (r *registry) applyDeregister(index uint64, payload json.RawMessage) any {
	var s Service
	if err := json.Unmarshal(payload, &s); err != nil || s.Name == "" {
		return fmt.Errorf("%w: deregister needs a name (payload %s)", errInvalidService, payload)
	}
	r.mu.Lock()
	delete(r.services, s.Name)
	r.mu.Unlock()
	r.logger.Info("service deregistered", "name", s.Name, "index", index)
	return nil
}

// Services returns the catalogue as this node has applied it, sorted by name.
func (r *registry) Services() []Service {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.SortedFunc(maps.Values(r.services), func(a, b Service) int { return cmp.Compare(a.Name, b.Name) })
}

// Snapshot implements raft.FSM: it copies the state now (cheap for a small
// catalogue); raft writes it out later on another goroutine.
func (r *registry) Snapshot() (raft.FSMSnapshot, error) {
	b, err := json.Marshal(r.Services())
	if err != nil {
		return nil, err
	}
	return snapshot(b), nil
}

// Restore implements raft.FSM: it replaces the whole state.
func (r *registry) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var list []Service
	if err := json.NewDecoder(rc).Decode(&list); err != nil {
		return fmt.Errorf("restore registry snapshot: %w", err)
	}
	services := make(map[string]Service, len(list))
	for _, s := range list {
		services[s.Name] = s
	}
	r.mu.Lock()
	r.services = services
	r.mu.Unlock()
	return nil
}

// snapshot is the encoded catalogue.
type snapshot []byte

// Persist implements raft.FSMSnapshot.
func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (snapshot) Release() {}
