package main

import (
	"fmt"
	"net"
	"os"

	"github.com/clusteragent/agent/agent"
	"github.com/hashicorp/go-hclog"
)

// The sd_notify protocol (sd_notify(3)), written out rather than taken from
// go-systemd: it is one datagram to a unix socket, and the agent needs two
// messages of it, so a dependency would add more than it saves.
//
// A service manager that waits for readiness (systemd's Type=notify) names
// its socket in $NOTIFY_SOCKET: a path, or an abstract socket when the name
// starts with '@' (Go's net package maps that to the leading NUL byte). With
// the variable unset, as under any other supervisor, nothing is sent.

// notifySocketEnv names the socket; see sd_notify(3).
const notifySocketEnv = "NOTIFY_SOCKET"

// sdNotify sends state ("READY=1", "STOPPING=1", ...) to the service
// manager. It reports whether a manager was there to tell.
func sdNotify(state string) (bool, error) {
	name := os.Getenv(notifySocketEnv)
	if name == "" {
		return false, nil
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("%s=%s: %w", notifySocketEnv, name, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("%s=%s: %w", notifySocketEnv, name, err)
	}
	return true, nil
}

// notify sends state and logs the outcome. A failure is logged, never
// fatal: the agent works the same without a service manager, and systemd
// reports a unit that never became ready by itself.
func notify(state string, logger hclog.Logger) {
	sent, err := sdNotify(state)
	switch {
	case err != nil:
		logger.Warn("could not notify the service manager", "state", state, "error", err)
	case sent:
		logger.Debug("notified the service manager", "state", state)
	}
}

// readyWhen returns what the agent is ready for a service manager after,
// once Start has returned (so the HTTP API listens): for a server, also the
// end of the first gossip join (another member reached, or none to reach),
// so a unit ordered after this one starts once the node is in the pool; a
// gossip-only client is ready at once.
func readyWhen(a runningAgent, cfg agent.Config) <-chan struct{} {
	if !cfg.Server {
		done := make(chan struct{})
		close(done)
		return done
	}
	return a.GossipSettled()
}
