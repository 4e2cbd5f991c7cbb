package agent

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"

	"github.com/clusteragent/agent/internal/freeport"
)

// startCtxConfig is a one-node agent on fixed free ports, so a test can
// check they are released.
func startCtxConfig(t *testing.T, dir string) Config {
	t.Helper()
	ports, err := freeport.Ports(3, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := LoopbackConfig("n1", dir)
	cfg.HTTP.Addr = freeport.HostPort(ports[0])
	cfg.Ports.Gossip, cfg.Ports.Raft = ports[1], ports[2]
	cfg.BootstrapPreferred = true
	return cfg
}

// TestStartHonoursContext: a context that ends before or during Start
// makes it return ctx.Err() promptly, with everything it started stopped:
// the ports are free again and the data dir opens for the next agent.
func TestStartHonoursContext(t *testing.T) {
	t.Parallel()
	cases := map[string]func(cancel context.CancelFunc) Option{
		"cancelled before Start": func(cancel context.CancelFunc) Option {
			cancel()
			return func(*Agent) {}
		},
		// Cancelled once Raft is open and gossip is being built: both must
		// be stopped again.
		"cancelled during Start": func(cancel context.CancelFunc) Option {
			return WithNetworkFaults(NetworkHooks{GossipTransport: func(tr memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
				cancel()
				return tr
			}})
		},
	}
	for name, arrange := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := startCtxConfig(t, dir)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			a, err := New(cfg, hclog.NewNullLogger(), arrange(cancel))
			if err != nil {
				t.Fatal(err)
			}
			begin := time.Now()
			err = a.Start(ctx)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Start = %v, want context.Canceled", err)
			}
			if took := time.Since(begin); took > 10*time.Second {
				t.Errorf("Start took %v to notice its context", took)
			}
			select {
			case <-a.Done():
			default:
				t.Fatal("the agent is not stopped after a cancelled Start")
			}
			for _, addr := range []string{cfg.HTTP.Addr, freeport.HostPort(cfg.Ports.Raft), freeport.HostPort(cfg.Ports.Gossip)} {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Errorf("%s still held after a cancelled Start: %v", addr, err)
					continue
				}
				ln.Close()
			}
			// The data dir (and its lock) is free: the next agent starts on it.
			next, err := New(cfg, hclog.NewNullLogger())
			if err != nil {
				t.Fatal(err)
			}
			if err := next.Start(context.Background()); err != nil {
				t.Fatalf("an agent on the same data dir and ports: %v", err)
			}
			if err := next.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
	}
}
