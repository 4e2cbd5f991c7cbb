package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clusteragent/agent/agent"
)

// fakeAgent stands in for the agent runtime so the run command's config,
// signal and exit handling can be tested alone.
type fakeAgent struct {
	cfg           chan agent.Config // receives the config New was given
	started       chan struct{}     // closed when Start is called
	startErr      error
	blockStart    bool          // Start waits for ctx to be cancelled
	shutdownGate  chan struct{} // Shutdown waits for it when not nil
	shutdownCalls atomic.Int32
	done          chan struct{}
	// serving is closed when run asks for the HTTP address, which it does
	// once Start has returned, as it logs "agent running": signals sent
	// after that take the running agent's path, not the one for a start
	// in progress.
	serving     chan struct{}
	servingOnce sync.Once
}

func newFakeAgent() *fakeAgent {
	return &fakeAgent{cfg: make(chan agent.Config, 1), started: make(chan struct{}), done: make(chan struct{}), serving: make(chan struct{})}
}

func (f *fakeAgent) Start(ctx context.Context) error {
	close(f.started)
	if f.blockStart {
		<-ctx.Done()
		return ctx.Err()
	}
	return f.startErr
}

func (f *fakeAgent) Shutdown(ctx context.Context) error {
	f.shutdownCalls.Add(1)
	if f.shutdownGate != nil {
		select {
		case <-f.shutdownGate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (f *fakeAgent) Done() <-chan struct{} { return f.done }
func (f *fakeAgent) HTTPAddr() string {
	f.servingOnce.Do(func() { close(f.serving) })
	return "127.0.0.1:7070"
}

// GossipSettled is never closed: the fake has no gossip.
func (f *fakeAgent) GossipSettled() <-chan struct{} { return nil }

// Reload answers as an agent without TLS does (the tests run -dev).
func (f *fakeAgent) Reload() error { return agent.ErrTLSDisabled }

// runHarness runs `agent run` in a goroutine with a fake agent and a
// signal channel the test drives.
type runHarness struct {
	tc    *testCLI
	fa    *fakeAgent
	sigs  chan chan<- os.Signal
	exit  chan int
	sigCh chan<- os.Signal
}

func startRun(t *testing.T, fa *fakeAgent, args ...string) *runHarness {
	t.Helper()
	h := &runHarness{tc: newTestCLI(t), fa: fa, sigs: make(chan chan<- os.Signal, 1), exit: make(chan int, 1)}
	h.tc.newAgent = func(cfg agent.Config, _ hclog.Logger) (runningAgent, error) {
		fa.cfg <- cfg
		return fa, nil
	}
	h.tc.notify = func(ch chan<- os.Signal) func() {
		h.sigs <- ch
		return func() {}
	}
	go func() { h.exit <- h.tc.dispatch(append([]string{"run"}, args...)) }()
	select {
	case h.sigCh = <-h.sigs:
	case code := <-h.exit:
		// Both may be ready when the agent stops at once; signals were
		// still set up first unless run failed before serving.
		select {
		case h.sigCh = <-h.sigs:
			h.exit <- code
		default:
			t.Fatalf("agent run exited %d before handling signals; stderr: %s", code, h.tc.errOut)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent run did not set up signal handling")
	}
	return h
}

func (h *runHarness) waitExit(t *testing.T) int {
	t.Helper()
	select {
	case code := <-h.exit:
		return code
	case <-time.After(20 * time.Second):
		t.Fatal("agent run did not exit")
		return -1
	}
}

func (h *runHarness) waitStarted(t *testing.T) {
	t.Helper()
	select {
	case <-h.fa.started:
	case <-time.After(10 * time.Second):
		t.Fatal("Start was not called")
	}
}

func TestRunGracefulShutdownOnSignal(t *testing.T) {
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			fa := newFakeAgent()
			h := startRun(t, fa, "-dev", "-log-level", "debug")
			h.waitStarted(t)
			cfg := <-fa.cfg
			if _, err := os.Stat(cfg.DataDir); err != nil {
				t.Fatalf("dev data dir %s not created: %v", cfg.DataDir, err)
			}
			select {
			case <-fa.serving:
			case <-time.After(10 * time.Second):
				t.Fatal("agent run never reached the running state")
			}
			h.sigCh <- syscall.SIGHUP // reloads (nothing, without TLS), not fatal
			h.sigCh <- sig
			if code := h.waitExit(t); code != 0 {
				t.Fatalf("exit %d after %s, want 0; stderr: %s", code, sig, h.tc.errOut)
			}
			if n := fa.shutdownCalls.Load(); n != 1 {
				t.Errorf("Shutdown called %d times, want 1", n)
			}
			if _, err := os.Stat(cfg.DataDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("dev data dir %s still there after exit: %v", cfg.DataDir, err)
			}
			if !cfg.Dev || cfg.NodeID != "dev" || cfg.Bind != "127.0.0.1" {
				t.Errorf("-dev did not use DevConfig: %+v", cfg)
			}
			log := h.tc.errOut.String()
			for _, want := range []string{"SIGHUP: nothing to reload", "shutting down", "agent running"} {
				if !strings.Contains(log, want) {
					t.Errorf("log does not mention %q:\n%s", want, log)
				}
			}
		})
	}
}

func TestRunSecondSignalForcesExit(t *testing.T) {
	fa := newFakeAgent()
	fa.shutdownGate = make(chan struct{})
	defer close(fa.shutdownGate) // let the abandoned Shutdown goroutine finish
	h := startRun(t, fa, "-data-dir", t.TempDir())
	h.waitStarted(t)
	h.sigCh <- syscall.SIGTERM
	h.sigCh <- syscall.SIGINT
	if code := h.waitExit(t); code != 1 {
		t.Fatalf("exit %d after a second signal, want 1", code)
	}
	if !strings.Contains(h.tc.errOut.String(), "second signal") {
		t.Errorf("log does not explain the forced exit:\n%s", h.tc.errOut)
	}
}

func TestRunExitsWhenAgentStops(t *testing.T) {
	fa := newFakeAgent()
	h := startRun(t, fa, "-data-dir", t.TempDir(), "-log-json")
	h.waitStarted(t)
	close(fa.done) // as after POST /v1/agent/leave
	if code := h.waitExit(t); code != 0 {
		t.Fatalf("exit %d after the agent stopped, want 0", code)
	}
	if n := fa.shutdownCalls.Load(); n != 0 {
		t.Errorf("Shutdown called %d times on an agent that stopped by itself", n)
	}
	if !strings.Contains(h.tc.errOut.String(), `"@message":"agent stopped"`) {
		t.Errorf("-log-json did not produce JSON logs:\n%s", h.tc.errOut)
	}
}

func TestRunStartFailure(t *testing.T) {
	fa := newFakeAgent()
	fa.startErr = errors.New("bind: address already in use")
	h := startRun(t, fa, "-data-dir", t.TempDir())
	if code := h.waitExit(t); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(h.tc.errOut.String(), "agent: bind: address already in use") {
		t.Errorf("stderr does not carry the error:\n%s", h.tc.errOut)
	}
}

func TestRunSignalDuringStart(t *testing.T) {
	fa := newFakeAgent()
	fa.blockStart = true
	h := startRun(t, fa, "-data-dir", t.TempDir())
	h.waitStarted(t)
	h.sigCh <- syscall.SIGINT
	if code := h.waitExit(t); code != 1 {
		t.Fatalf("exit %d for an interrupted start, want 1", code)
	}
}

// runConfig runs `agent run args` with a fake agent that stops at once and
// returns the config the agent was built with.
func runConfig(t *testing.T, args ...string) agent.Config {
	t.Helper()
	fa := newFakeAgent()
	close(fa.done)
	h := startRun(t, fa, args...)
	if code := h.waitExit(t); code != 0 {
		t.Fatalf("agent run %q: exit %d; stderr: %s", args, code, h.tc.errOut)
	}
	return <-fa.cfg
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunOverrideOrder(t *testing.T) {
	file := writeFile(t, "agent.hcl", `
node_id = "from-file"
zone    = "file-zone"
join    = ["10.0.0.1", "10.0.0.2"]
server  = true
ports {
  gossip = 8000
}
`)
	dataDir := t.TempDir()
	cfg := runConfig(t, "-config", file, "-zone", "flag-zone", "-join", "10.0.0.9", "-server=false",
		"-data-dir", dataDir, "--raft-port", "9000")
	want := agent.DefaultConfig()
	want.NodeID = "from-file" // file, no flag
	want.Zone = "flag-zone"   // flag beats file
	want.Join = []string{"10.0.0.9"}
	want.Server = false
	want.Ports.Gossip = 8000 // file
	want.Ports.Raft = 9000   // flag, given as --raft-port
	want.DataDir = dataDir
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestRunRepeatableFlags(t *testing.T) {
	cfg := runConfig(t, "-data-dir", t.TempDir(), "-peer", "n1=127.0.0.1:7000", "-peer", "n2=127.0.0.1:7001",
		"-join", "a:1", "-join", "b:2", "-encrypt", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	if !reflect.DeepEqual(cfg.Peers, map[string]string{"n1": "127.0.0.1:7000", "n2": "127.0.0.1:7001"}) {
		t.Errorf("peers = %v", cfg.Peers)
	}
	if !reflect.DeepEqual(cfg.Join, []string{"a:1", "b:2"}) {
		t.Errorf("join = %v", cfg.Join)
	}
	if cfg.Gossip.Encrypt == "" {
		t.Error("-encrypt not applied")
	}
}

func TestRunDefaultsUntouchedByUnsetFlags(t *testing.T) {
	file := writeFile(t, "agent.hcl", "server = false\nhttp {\n  addr = \"127.0.0.1:9999\"\n}\n")
	cfg := runConfig(t, "-config", file, "-data-dir", t.TempDir())
	if cfg.Server || cfg.HTTP.Addr != "127.0.0.1:9999" {
		t.Errorf("unset flags overrode the file: server=%t http.addr=%s", cfg.Server, cfg.HTTP.Addr)
	}
}

func TestRunConfigErrors(t *testing.T) {
	file := writeFile(t, "agent.hcl", "\nlog_level = \"loud\"\n")
	typo := writeFile(t, "typo.hcl", "zone = \"a\"\nbootstrap_expekt = 3\n")
	preferred := writeFile(t, "preferred.hcl", "zone = \"a\"\n\nbootstrap_preferred = true\n")
	cases := map[string]struct {
		args []string
		want string
	}{
		"flag":           {[]string{"-node-id", "bad id"}, "agent: config error: flag -node-id: "},
		"file line":      {[]string{"-config", file}, "agent: config error: " + file + ":2: log_level: \"loud\" is not one of"},
		"flag wins":      {[]string{"-config", file, "-log-level", "noisy"}, "agent: config error: flag -log-level: \"noisy\""},
		"unknown key":    {[]string{"-config", typo}, "agent: config error: " + typo + ":2: bootstrap_expekt: unknown key"},
		"default key":    {[]string{"-bootstrap-expect", "7"}, "agent: config error: autopilot.min_quorum: the effective minimum quorum 7"},
		"combination":    {[]string{"-no-bootstrap", "-bootstrap-preferred"}, "agent: config error: flag -no-bootstrap: cannot be combined"},
		"missing file":   {[]string{"-config", filepath.Join(t.TempDir(), "nope.hcl")}, "agent: config error: reading config file"},
		"bad encrypt":    {[]string{"-encrypt", "abc"}, "agent: config error: flag -encrypt: not valid base64"},
		"ports clash":    {[]string{"-gossip-port", "7000"}, "agent: config error: ports.raft: must differ"},
		"dev and expect": {[]string{"-dev", "-bootstrap-expect", "3"}, "agent: config error: flag -bootstrap-expect: cannot be combined with -dev (one self-bootstrapping agent)"},
		"other half in the file": {[]string{"-config", preferred, "-bootstrap-expect", "3"},
			"agent: config error: flag -bootstrap-expect: cannot be combined with bootstrap_preferred (" + preferred + ":3)"},
		"http tls only": {[]string{"-config", writeFile(t, "h.hcl", "http {\n  tls = true\n}\n")}, ":2: http.tls: needs tls.enable"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := newTestCLI(t)
			called := false
			c.newAgent = func(agent.Config, hclog.Logger) (runningAgent, error) {
				called = true
				return nil, errors.New("must not be called")
			}
			dataDir := filepath.Join(t.TempDir(), "data")
			code, _, errOut := c.run(append([]string{"run", "-data-dir", dataDir}, tc.args...)...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			oneLine(t, "stderr", errOut)
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q does not contain %q", errOut, tc.want)
			}
			if called {
				t.Error("the agent was built despite a config error")
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("data dir touched before the config was valid: %v", err)
			}
		})
	}
}

func TestRunAgentConfigErrorIsAttributed(t *testing.T) {
	c := newTestCLI(t)
	c.newAgent = func(agent.Config, hclog.Logger) (runningAgent, error) {
		return nil, &agent.ConfigError{Key: "data_dir", Msg: "is not writable"}
	}
	code, _, errOut := c.run("run", "-data-dir", t.TempDir())
	if code != 1 || !strings.Contains(errOut, "agent: config error: flag -data-dir: is not writable") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	c.newAgent = func(agent.Config, hclog.Logger) (runningAgent, error) { return nil, errors.New("disk full") }
	code, _, errOut = c.run("run", "-data-dir", t.TempDir())
	if code != 1 || errOut != "agent: disk full\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestRunDevKeepsExplicitDataDir(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, "dev.hcl", "data_dir = \""+filepath.ToSlash(dir)+"\"\n")
	for _, args := range [][]string{{"-dev", "-data-dir", dir}, {"-dev", "-config", file}} {
		cfg := runConfig(t, args...)
		if cfg.DataDir != dir {
			t.Errorf("agent run %q: data dir %q, want %q", args, cfg.DataDir, dir)
		}
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("explicit data dir removed on exit: %v", err)
		}
	}
}
