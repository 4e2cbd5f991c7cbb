// Package api is the Go client of the agent's HTTP API, and the home of its
// wire types: the agent's server encodes these same types, so a program
// built on this package reads exactly what the agent writes.
//
// A Client covers every route the agent serves: the replicated key/value
// store (reads linearizable by default or stale, blocking reads with an
// index and a wait, writes and deletes with compare-and-set and leases),
// leases, status, gossip members, the Raft configuration (remove a peer,
// transfer leadership), autopilot health, the gossip keyring, snapshots
// streamed to an io.Writer and restored from an io.Reader, health probes,
// metrics, leave and TLS reload.
//
//	client, err := api.NewClient(api.Config{
//		Address: "10.0.0.5:7070",
//		Token:   os.Getenv("AGENT_HTTP_TOKEN"),
//		TLS:     api.TLSConfig{CAFile: "agent-ca.pem"},
//		Timeout: time.Minute,
//	})
//	...
//	w, err := client.KVPut(ctx, "config/mode", []byte("fast"), &api.PutOptions{CAS: api.Index(0)})
//	switch {
//	case errors.Is(err, api.ErrCASFailed): // the key exists
//	case errors.Is(err, api.ErrNoLeader):  // no leader now; retry later
//	}
//
// Every call takes a context. Config.Timeout bounds ordinary calls; a
// blocking read is bounded by its own wait, and a snapshot transfer only
// by its context.
//
// Errors: an answer other than 2xx is a *StatusError carrying the status
// and the agent's own message, and matches with errors.Is the sentinel it
// stands for: ErrNotFound (404), ErrBadRequest (400), ErrUnauthorized
// (401), ErrForbidden (403), ErrConflict (409), ErrTooLarge (413),
// ErrUnavailable (any 503) and ErrNoLeader (a 503 about leadership). A
// compare-and-set that did not apply is ErrCASFailed. A failure to reach
// the agent is the *url.Error of net/http.
//
// The package imports only the standard library, so a program can use it
// without pulling in Raft, gossip or the agent.
package api
