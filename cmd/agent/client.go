package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/clusteragent/agent/api"
)

// Client defaults.
const (
	defaultHTTPAddr = "127.0.0.1:7070"
	// defaultClientTimeout leaves room for calls that wait on Raft, such as
	// a leadership transfer (a few election timeouts).
	defaultClientTimeout = time.Minute
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	addr       string
	token      string
	envToken   string
	caFile     string
	clientCert string
	clientKey  string
	timeout    time.Duration
}

func (c *cli) addClientFlags(fs *flagSet) *clientFlags {
	cf := &clientFlags{}
	addr := c.getenv("AGENT_HTTP_ADDR")
	if addr == "" {
		addr = defaultHTTPAddr
	}
	fs.StringVar(&cf.addr, "http-addr", addr, "agent HTTP API `HOST:PORT` (or an http:// or https:// URL); $AGENT_HTTP_ADDR")
	// The env token is not the flag's default, so -h never prints it.
	cf.envToken = c.getenv("AGENT_HTTP_TOKEN")
	fs.StringVar(&cf.token, "token", "", "API token sent as \"Authorization: Bearer TOKEN\" (default $AGENT_HTTP_TOKEN)")
	fs.StringVar(&cf.caFile, "ca-file", "", "PEM `FILE` of the CA that signed the agent's certificate; turns on HTTPS")
	fs.StringVar(&cf.clientCert, "client-cert", "", "PEM client certificate `FILE` for agents that require one")
	fs.StringVar(&cf.clientKey, "client-key", "", "PEM private key `FILE` of -client-cert")
	fs.DurationVar(&cf.timeout, "timeout", defaultClientTimeout, "give up on a request after this long")
	return cf
}

// apiClient is the public API client plus the CLI's hints for transport
// failures, which name the flags to change.
type apiClient struct {
	*api.Client
}

func (cf *clientFlags) client() (*apiClient, error) {
	if cf.addr == "" {
		return nil, errors.New("-http-addr is empty")
	}
	if _, err := api.ParseAddress(cf.addr, false); err != nil {
		return nil, fmt.Errorf("-http-addr %q is not HOST:PORT or an http(s) URL", cf.addr)
	}
	if (cf.clientCert == "") != (cf.clientKey == "") {
		return nil, errors.New("-client-cert and -client-key must be given together")
	}
	token := cf.token
	if token == "" {
		token = cf.envToken
	}
	c, err := api.NewClient(api.Config{
		Address: cf.addr,
		Token:   token,
		TLS:     api.TLSConfig{CAFile: cf.caFile, CertFile: cf.clientCert, KeyFile: cf.clientKey},
		Timeout: cf.timeout,
	})
	if err != nil {
		return nil, fmt.Errorf("-ca-file, -client-cert, -client-key: %w", err)
	}
	return &apiClient{Client: c}, nil
}

// check turns a call's transport failure into a hint an operator can act
// on; the agent's own answers (*api.StatusError) pass unchanged.
func (a *apiClient) check(err error) error {
	var se *api.StatusError
	if err == nil || errors.As(err, &se) {
		return err
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted: %w", err)
	}
	return a.connError(err)
}

// writeJSONOut prints v as the agent encodes its answers, for -json.
func writeJSONOut(w io.Writer, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintf(w, "{\"error\":%q}\n", err.Error())
		return
	}
	writeRaw(w, data)
}

// connError turns a transport failure into a hint an operator can act on.
func (a *apiClient) connError(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot connect to the agent at %s: connection refused; is it running? (set -http-addr or AGENT_HTTP_ADDR)", a.Host())
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("no answer from the agent at %s in time: %v", a.Host(), err)
	}
	var hostErr x509.UnknownAuthorityError
	if errors.As(err, &hostErr) {
		return fmt.Errorf("the agent at %s has a certificate from an unknown CA; pass its CA with -ca-file", a.Host())
	}
	// crypto/tls reports the server's alerts only as text inside a
	// "remote error" net.OpError.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" &&
		(strings.Contains(op.Err.Error(), "certificate required") || strings.Contains(op.Err.Error(), "bad certificate")) {
		return fmt.Errorf("the agent at %s refused the TLS handshake (%v): it requires a client certificate signed by its CA; pass -client-cert and -client-key", a.Host(), op.Err)
	}
	return fmt.Errorf("cannot reach the agent at %s: %v", a.Host(), err)
}

// writeRaw prints a JSON body as received, ending with a newline.
func writeRaw(w io.Writer, data []byte) {
	_, _ = w.Write(data)
	if len(data) == 0 || data[len(data)-1] != '\n' {
		_, _ = io.WriteString(w, "\n")
	}
}
