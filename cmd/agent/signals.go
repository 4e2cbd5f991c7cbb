package main

import (
	"context"
	"errors"
	"os"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/clusteragent/agent/agent"
)

// serve starts a and waits until it stops by itself (exit 0), or a SIGINT
// or SIGTERM asks it to (graceful shutdown; a second signal exits 1 at once).
// SIGHUP reloads the TLS certificate, key and CA (see reload).
func (c *cli) serve(a runningAgent, cfg agent.Config, logger hclog.Logger, quiet *stopLog) int {
	sigs := make(chan os.Signal, 4)
	stop := c.notify(sigs)
	defer stop()
	// ctx lives as long as the agent; it is cancelled only to abort a Start
	// interrupted by a signal, or on return.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	started := make(chan error, 1)
	go func() { started <- a.Start(ctx) }()
	if code, ok := c.awaitStart(a, cfg, started, sigs, cancel, logger, quiet); !ok {
		return code
	}
	logger.Info("agent running", "http_addr", a.HTTPAddr())
	ready := readyWhen(a, cfg)
	for {
		select {
		case <-ready:
			ready = nil // sent once
			logger.Info("agent ready", "http_addr", a.HTTPAddr())
			notify("READY=1", logger)
		case <-a.Done():
			// Stopped by itself (agent leave): tell systemd it is on purpose.
			notify("STOPPING=1", logger)
			logger.Info("agent stopped")
			return exitOK
		case s := <-sigs:
			if s == syscall.SIGHUP {
				reload(a, logger)
				continue
			}
			logger.Info("shutting down", "signal", s.String())
			return shutdown(a, cfg, sigs, logger, quiet)
		}
	}
}

// awaitStart waits for Start. A signal meanwhile aborts the start and
// shuts down; ok false means return code.
func (c *cli) awaitStart(a runningAgent, cfg agent.Config, started <-chan error, sigs <-chan os.Signal,
	cancel context.CancelFunc, logger hclog.Logger, quiet *stopLog) (code int, ok bool) {
	for {
		select {
		case err := <-started:
			if err != nil {
				logger.Error("agent failed to start", "error", err)
				return c.fail(err), false
			}
			return 0, true
		case s := <-sigs:
			if s == syscall.SIGHUP {
				reload(a, logger)
				continue
			}
			logger.Info("signal received while starting, stopping", "signal", s.String())
			cancel()
			if err := <-started; err != nil {
				return exitFail, false
			}
			return shutdown(a, cfg, sigs, logger, quiet), false
		}
	}
}

// shutdown stops a gracefully, bounded in time; another SIGINT or SIGTERM
// gives up on it and exits 1.
func shutdown(a runningAgent, cfg agent.Config, sigs <-chan os.Signal, logger hclog.Logger, quiet *stopLog) int {
	notify("STOPPING=1", logger)
	quiet.stopping.Store(true)
	defer func() {
		if n := quiet.dropped.Load(); n > 0 {
			logger.Info("left out connection errors that peers stopping at the same time cause", "count", n)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout(cfg))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Shutdown(ctx) }()
	for {
		select {
		case err := <-done:
			if err != nil {
				logger.Error("shutdown failed", "error", err)
				return exitFail
			}
			return exitOK
		case s := <-sigs:
			if s == syscall.SIGHUP {
				continue
			}
			logger.Error("second signal received, exiting without finishing the shutdown", "signal", s.String())
			return exitFail
		}
	}
}

// reload handles SIGHUP: the agent re-reads its TLS files, all or nothing.
// Other settings are not reloaded; the log says so, since operators used to
// other daemons may expect SIGHUP to reread the whole config file.
func reload(a runningAgent, logger hclog.Logger) {
	err := a.Reload()
	switch {
	case err == nil:
		logger.Info("SIGHUP: reloaded the tls certificate, key and CA (other settings need a restart)")
	case errors.Is(err, agent.ErrTLSDisabled):
		logger.Info("SIGHUP: nothing to reload; tls is not enabled (other settings need a restart)")
	case errors.Is(err, agent.ErrNotStarted):
		// The agent has not loaded its TLS files yet; it will read them as
		// they are now.
		logger.Info("SIGHUP while starting: the tls files are read as the agent starts")
	default:
		logger.Error("SIGHUP: reload failed; the current certificate stays in use", "error", err)
	}
}
