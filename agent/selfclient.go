package agent

import (
	"errors"

	"github.com/clusteragent/agent/api"
)

// Client returns a Go client of this agent's own HTTP API (after Start),
// with its token and, when the API is served over HTTPS, its CA and
// certificate: how a program embedding the agent with the default
// key/value store reaches everything the API offers from Go — writes,
// leases, blocking reads, locks and elections (api.Lock, Client.Elect) —
// with the forwarding to the leader the API does. For local, stale reads
// and watches without a round trip, KV() is the state machine itself
// (kv.Store.View, kv.Store.Wait).
func (a *Agent) Client() (*api.Client, error) {
	addr := a.HTTPAddr()
	if addr == "" {
		return nil, errors.New("the agent's HTTP API is not listening: call Start first")
	}
	cfg := api.Config{Address: addr, Token: a.cfg.HTTP.Token}
	if a.cfg.HTTP.TLS {
		cfg.TLS = api.TLSConfig{CAFile: a.cfg.TLS.CAFile, CertFile: a.cfg.TLS.CertFile, KeyFile: a.cfg.TLS.KeyFile}
	}
	return api.NewClient(cfg)
}
