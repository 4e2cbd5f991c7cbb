package agent

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusteragent/agent/agent/httpapi"
	"github.com/clusteragent/agent/tlsutil"
)

// defaultTLSWatchInterval is how often the certificate files are checked
// when Tuning.TLSWatchInterval is 0. Certificates are rotated hours or days
// before they expire, so seconds of delay cost nothing, and reading three
// small files this often costs nothing either.
const defaultTLSWatchInterval = 5 * time.Second

// tlsReloader owns reloading the tls block's files. Every trigger (SIGHUP
// through Agent.Reload, POST /v1/agent/reload, the file watcher) goes
// through reload, which serialises them, counts them in metrics and records
// what the files held, so the watcher does not reload again what a trigger
// already loaded.
type tlsReloader struct {
	tls      *tlsutil.Configurator
	files    []string // CA, certificate, key
	logger   hclog.Logger
	interval time.Duration // <= 0: no watcher

	reloads, failures prometheus.Counter

	mu   sync.Mutex
	seen fingerprint // the files' content at the last load or attempt
}

// fingerprint identifies the content of the three files.
type fingerprint [sha256.Size]byte

// startTLS loads the tls block's files, registers the TLS metrics and starts
// the file watcher. The files are fingerprinted before they are loaded, so a
// change racing the load is reloaded by the watcher instead of being missed.
func (a *Agent) startTLS() error {
	tc := a.cfg.TLS
	files := []string{tc.CAFile, tc.CertFile, tc.KeyFile}
	seen := fingerprintFiles(files)
	c, err := tlsutil.NewConfigurator(tlsutil.Config{
		CAFile: tc.CAFile, CertFile: tc.CertFile, KeyFile: tc.KeyFile, MinVersion: tc.MinVersion, ServerNames: tc.ServerNames,
	}, a.logger)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	interval := a.cfg.Tuning.TLSWatchInterval
	if interval == 0 {
		interval = defaultTLSWatchInterval
	}
	r := &tlsReloader{
		tls: c, files: files, logger: a.logger.Named("tls"), interval: interval, seen: seen,
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tls_reloads_total", Help: "Successful reloads of the TLS CA, certificate and key.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tls_reload_failures_total", Help: "Failed reloads of the TLS files; the previous certificate stayed in use.",
		}),
	}
	expiry := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tls_certificate_expiry_seconds", Help: "Seconds until the certificate in use expires (negative once expired).",
	}, func() float64 { return time.Until(c.Certificate().NotAfter).Seconds() })
	for _, col := range []prometheus.Collector{r.reloads, r.failures, expiry} {
		if err := a.registry.Register(col); err != nil {
			return fmt.Errorf("tls metrics: %w", err)
		}
	}
	a.tls = c
	a.tlsReload.Store(r)
	a.goLoop(r.watch)
	return nil
}

// Reload re-reads the tls block's CA, certificate and key. It is
// all-or-nothing: when any file fails to load or verify, the error (naming
// the file) is returned and logged, tls_reload_failures_total counts it, and
// the previous material stays in use. Established connections keep the
// certificate they were set up with; new handshakes use the new one. It
// returns ErrTLSDisabled without tls.enable and ErrNotStarted before Start.
func (a *Agent) Reload() error {
	return a.reloadFrom("request")
}

// reloadFrom is Reload with the trigger named in the logs.
func (a *Agent) reloadFrom(trigger string) error {
	if !a.cfg.TLS.Enable {
		return ErrTLSDisabled
	}
	r := a.tlsReload.Load()
	if r == nil {
		return fmt.Errorf("reload: %w", ErrNotStarted)
	}
	return r.reload(trigger)
}

// Reload implements httpapi.Backend: a reload asked of an agent without
// TLS is the caller's mistake (400); a file that does not load is a server
// problem (500), and the error names the file.
func (b backend) Reload(context.Context) error {
	err := b.a.reloadFrom("api")
	if errors.Is(err, ErrTLSDisabled) {
		return fmt.Errorf("%w: %w", httpapi.ErrBadRequest, err)
	}
	return err
}

// reload loads the files through the configurator, which keeps the old
// material on any error and logs the outcome itself.
func (r *tlsReloader) reload(trigger string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logger.Info("reloading the tls certificate, key and CA", "trigger", trigger)
	r.seen = fingerprintFiles(r.files)
	if err := r.tls.Reload(); err != nil {
		r.failures.Inc()
		return err
	}
	r.reloads.Inc()
	return nil
}

func (r *tlsReloader) lastSeen() fingerprint {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen
}

// watch polls the files until ctx ends. Polling instead of inotify keeps
// the agent free of a new dependency and works where inotify does not:
// files replaced through a symlink swap (as Kubernetes mounts secrets),
// network file systems, and files recreated by rename, which an inotify
// watch on the old inode would miss.
func (r *tlsReloader) watch(ctx context.Context) {
	if r.interval <= 0 {
		return
	}
	ticker := time.NewTicker(r.interval)
	defer ticker.Stop()
	var pending *fingerprint
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			pending = r.poll(pending)
		}
	}
}

// poll reloads once the files differ from what was last loaded and have
// looked the same on two ticks in a row: rotation tools write the
// certificate and the key one after the other, and a reload between the
// two writes would fail, and count as a failure, for nothing. It returns
// the change still waiting to settle, if any.
func (r *tlsReloader) poll(pending *fingerprint) *fingerprint {
	fp := fingerprintFiles(r.files)
	switch {
	case fp == r.lastSeen():
		return nil
	case pending == nil || *pending != fp:
		return &fp
	}
	// The error is logged and counted by reload; the watcher tries again
	// only when the files change again, so a broken file does not flood
	// the logs.
	_ = r.reload("file_change")
	return nil
}

// maxWatchedFileBytes caps what the watcher reads of each file: far above
// any certificate bundle, and a bound if a path points at something huge.
const maxWatchedFileBytes = 4 << 20

// fingerprintFiles hashes the files' content, or the error reading them. It
// compares content rather than modification time and size: a rotated
// certificate of the same key type usually has the same size, and file
// systems with coarse timestamps can give two writes in one second the same
// modification time.
func fingerprintFiles(paths []string) fingerprint {
	h := sha256.New()
	for _, p := range paths {
		fmt.Fprintf(h, "%s\x00", p)
		f, err := os.Open(p)
		if err != nil {
			fmt.Fprintf(h, "error %v\x00", err)
			continue
		}
		n, err := io.Copy(h, io.LimitReader(f, maxWatchedFileBytes))
		_ = f.Close()
		fmt.Fprintf(h, "\x00%d %v\x00", n, err)
	}
	var fp fingerprint
	h.Sum(fp[:0])
	return fp
}
