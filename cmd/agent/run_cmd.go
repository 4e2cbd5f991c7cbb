package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clusteragent/agent/agent"
)

// shutdownGrace is added to the agent's own shutdown budget before run gives
// up waiting: the agent bounds its graceful steps itself, this only catches
// a stuck one.
const shutdownGrace = 5 * time.Second

func (c *cli) cmdRun(args []string) int {
	fs := newFlagSet("agent run", "[-config FILE] [-dev] [flags]",
		"Runs an agent until SIGINT or SIGTERM. Settings come from the defaults, then\n"+
			"the -config file, then the flags given explicitly. On SIGINT/SIGTERM a leader\n"+
			"first hands leadership to another voter; a second signal exits at once.")
	rf := registerRunFlags(fs.FlagSet)
	pos, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.usageError(fs, "unexpected argument %q", pos[0])
	}
	cfg, src, err := loadRunConfig(fs.FlagSet, rf)
	if err != nil {
		return c.configError(err)
	}
	quiet := &stopLog{}
	c.quiet = quiet
	logger := newLogger(cfg, c.stderr, quiet)
	restrictUmask()
	if cfg.Dev && !rf.set["data-dir"] && !src.has("data_dir") {
		cleanup, err := useTempDataDir(&cfg, logger)
		if err != nil {
			return c.fail(err)
		}
		defer cleanup()
	}
	a, err := c.newAgent(cfg, logger)
	if err != nil {
		if ce := (*agent.ConfigError)(nil); errors.As(err, &ce) {
			// New resolves the address templates: name the file line too.
			return c.configError(attribute(err, rf, src))
		}
		return c.fail(err)
	}
	return c.serve(a, cfg, logger, quiet)
}

// loadRunConfig layers defaults, the file and the explicit flags, then
// validates. It touches nothing on disk but reading the config file. src is
// nil without -config.
func loadRunConfig(fs *flag.FlagSet, rf *runFlags) (cfg agent.Config, src *fileSource, err error) {
	cfg = agent.DefaultConfig()
	if rf.dev {
		cfg = agent.DevConfig()
	}
	if rf.configFile != "" {
		if src, err = loadConfigFile(rf.configFile, &cfg); err != nil {
			return agent.Config{}, nil, err
		}
	}
	rf.apply(fs, &cfg)
	if err := cfg.Validate(); err != nil {
		return agent.Config{}, nil, attribute(err, rf, src)
	}
	return cfg, src, nil
}

// attribute points a validation error at the flag or the file line that
// set the offending key. A key left at its default is named alone.
func attribute(err error, rf *runFlags, src *fileSource) error {
	var ce *agent.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	msg := ce.Msg
	if err != error(ce) {
		msg = err.Error() // wrapped: keep the outer context
	}
	msg = locateOtherKeys(msg, ce.Key, src)
	if name := rf.flagFor(ce.Key); name != "" {
		return fmt.Errorf("flag -%s: %s", name, msg)
	}
	if src != nil {
		if line, ok := src.lines[ce.Key]; ok {
			return &fileError{File: src.file, Line: line, Key: ce.Key, Msg: msg}
		}
	}
	return fmt.Errorf("%s: %s", ce.Key, msg)
}

func (c *cli) configError(err error) int {
	fmt.Fprintf(c.stderr, "agent: config error: %v\n", err)
	return exitFail
}

// newLogger builds the root logger; every component names a sub-logger.
// quiet, when not nil, demotes or leaves out the library errors that are
// not errors (see stopLog).
func newLogger(cfg agent.Config, out interface{ Write([]byte) (int, error) }, quiet *stopLog) hclog.Logger {
	opts := func() *hclog.LoggerOptions {
		return &hclog.LoggerOptions{
			Name:       "agent",
			Level:      hclog.LevelFromString(cfg.LogLevel),
			JSONFormat: cfg.LogJSON,
			Output:     out,
		}
	}
	root := opts()
	if quiet != nil {
		quiet.warn = hclog.New(opts())
		root.Exclude = quiet.exclude
	}
	return hclog.New(root)
}

// useTempDataDir gives a -dev agent without an explicit data dir a
// temporary one, and returns what removes it.
func useTempDataDir(cfg *agent.Config, logger hclog.Logger) (cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "agent-dev-")
	if err != nil {
		return nil, fmt.Errorf("creating the -dev data dir: %w", err)
	}
	cfg.DataDir = dir
	logger.Info("dev mode: using a temporary data dir, removed on exit", "data_dir", dir)
	return func() {
		if err := os.RemoveAll(dir); err != nil {
			logger.Warn("removing the dev data dir failed", "data_dir", dir, "error", err)
		}
	}, nil
}

func shutdownTimeout(cfg agent.Config) time.Duration {
	d := cfg.Tuning.ShutdownTimeout
	if d <= 0 {
		d = 10 * time.Second
	}
	return d + shutdownGrace
}
