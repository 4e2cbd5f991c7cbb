package agent

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/internal/mux"
)

// startHTTP serves the API on the listener opened in start. Timeouts bound
// slow clients; the write timeout leaves room for writes that wait for a
// leader and for leadership transfers.
func (a *Agent) startHTTP() {
	api := a.apiHandler()
	a.httpSrv = newHTTPServer(api, a.logger.Named("http"))
	clientLn := a.httpLn
	if a.cfg.HTTP.TLS && a.tls != nil {
		// HTTPS for clients: by default a client certificate is checked
		// when given, not required, so operators can use curl with -cacert
		// and a token; http.verify_client requires one.
		cfg := a.tls.IncomingHTTPSConfig()
		if a.cfg.HTTP.VerifyClient {
			cfg = a.tls.IncomingHTTPSConfigRequireClientCert()
		}
		clientLn = tls.NewListener(clientLn, cfg)
	}
	a.httpDone = serve(a, a.httpSrv, clientLn, "http")
	if a.mux != nil {
		// The agent-to-agent API: the same handler, on the Raft port, with
		// mutual TLS when it is on.
		var ln net.Listener = a.mux.Listener(mux.ProtoAgent)
		if a.tls != nil {
			ln = tls.NewListener(ln, a.tls.IncomingConfig())
		}
		a.rpcSrv = newHTTPServer(a.rpcHandler(api), a.logger.Named("rpc"))
		a.rpcDone = serve(a, a.rpcSrv, ln, "agent rpc")
	}
}

func (a *Agent) apiHandler() http.Handler {
	return biteStaleReads(httpapi.New(backend{a}, httpapi.Config{
		Token:         a.cfg.HTTP.Token,
		OpenReads:     a.cfg.HTTP.OpenReads,
		Logger:        a.logger.Named("http"),
		Metrics:       promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}),
		Registerer:    a.registry,
		ForwardClient: a.peers.client,
		ForwardScheme: a.peers.scheme,
		LeaderWait:    a.cfg.HTTP.LeaderWait,
		EnableDebug:   a.cfg.HTTP.EnableDebug,
		// The only request bodies are KV values: cap them at the value limit
		// so an oversized one is refused before it is read.
		MaxBodyBytes: int64(max(a.cfg.KV.MaxValueBytes, 64<<10)),
	}))
}

func newHTTPServer(h http.Handler, logger hclog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ErrorLog:          logger.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// serve runs srv on ln until it is shut down; the channel closes then.
func serve(a *Agent, srv *http.Server, ln net.Listener, name string) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, mux.ErrClosed) {
			a.logger.Error("server failed", "server", name, "error", err)
		}
	}()
	return done
}
