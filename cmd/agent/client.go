package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// Client defaults.
const (
	defaultHTTPAddr = "127.0.0.1:7070"
	// defaultClientTimeout leaves room for calls that wait on Raft, such as
	// a leadership transfer (a few election timeouts).
	defaultClientTimeout = time.Minute
	dialTimeout          = 5 * time.Second
	// maxResponseBytes bounds what the CLI reads from an agent.
	maxResponseBytes = 64 << 20
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

// apiClient talks to one agent's HTTP API.
type apiClient struct {
	base  *url.URL
	token string
	hc    *http.Client
}

func (cf *clientFlags) client() (*apiClient, error) {
	base, err := baseURL(cf.addr, cf.caFile != "")
	if err != nil {
		return nil, err
	}
	transport := &http.Transport{
		Proxy:               nil, // the agent is local or on a private network
		DialContext:         (&net.Dialer{Timeout: dialTimeout}).DialContext,
		TLSHandshakeTimeout: dialTimeout,
	}
	if base.Scheme == "https" || cf.clientCert != "" {
		tc, err := cf.tlsConfig()
		if err != nil {
			return nil, err
		}
		transport.TLSClientConfig = tc
	}
	token := cf.token
	if token == "" {
		token = cf.envToken
	}
	return &apiClient{base: base, token: token, hc: &http.Client{Transport: transport, Timeout: cf.timeout}}, nil
}

func baseURL(addr string, https bool) (*url.URL, error) {
	if addr == "" {
		return nil, errors.New("-http-addr is empty")
	}
	if !strings.Contains(addr, "://") {
		scheme := "http"
		if https {
			scheme = "https"
		}
		addr = scheme + "://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-http-addr %q is not HOST:PORT or an http(s) URL", addr)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

func (cf *clientFlags) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cf.caFile != "" {
		pem, err := os.ReadFile(cf.caFile)
		if err != nil {
			return nil, fmt.Errorf("-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-ca-file %s: no PEM certificate found", cf.caFile)
		}
		tc.RootCAs = pool
	}
	if (cf.clientCert == "") != (cf.clientKey == "") {
		return nil, errors.New("-client-cert and -client-key must be given together")
	}
	if cf.clientCert != "" {
		pair, err := tls.LoadX509KeyPair(cf.clientCert, cf.clientKey)
		if err != nil {
			return nil, fmt.Errorf("-client-cert/-client-key: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// do sends a request and returns the body of a 2xx answer. Any other answer
// becomes an error carrying the agent's {"error": "..."} message.
func (a *apiClient) do(method, path string, query url.Values, body io.Reader) ([]byte, error) {
	data, _, err := a.doCtx(context.Background(), method, path, query, body)
	return data, err
}

// doCtx is do with a context, also returning the answer's headers (of an
// error answer too, inside *apiError's Header).
func (a *apiClient) doCtx(ctx context.Context, method, path string, query url.Values, body io.Reader) ([]byte, http.Header, error) {
	u := *a.base
	u.Path = path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, nil, err
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, nil, a.connError(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the answer from %s: %w", a.base.Host, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, resp.Header, &apiError{Status: resp.StatusCode, Msg: errorMessage(resp.StatusCode, data)}
	}
	return data, resp.Header, nil
}

// getJSON GETs path and decodes the answer into v; it also returns the raw body for -json.
func (a *apiClient) getJSON(path string, query url.Values, v any) ([]byte, error) {
	data, err := a.do(http.MethodGet, path, query, nil)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("unexpected answer from %s%s: %w", a.base.Host, path, err)
	}
	return data, nil
}

// apiError is a non-2xx answer from the agent.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return e.Msg }

func errorMessage(status int, body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	text := strings.TrimSpace(string(body))
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	if text == "" {
		return fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	}
	return fmt.Sprintf("HTTP %d: %s", status, text)
}

// connError turns a transport failure into a hint an operator can act on.
func (a *apiClient) connError(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot connect to the agent at %s: connection refused; is it running? (set -http-addr or AGENT_HTTP_ADDR)", a.base.Host)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("no answer from the agent at %s in time: %v", a.base.Host, err)
	}
	var hostErr x509.UnknownAuthorityError
	if errors.As(err, &hostErr) {
		return fmt.Errorf("the agent at %s has a certificate from an unknown CA; pass its CA with -ca-file", a.base.Host)
	}
	// crypto/tls reports the server's alerts only as text inside a
	// "remote error" net.OpError.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" &&
		(strings.Contains(op.Err.Error(), "certificate required") || strings.Contains(op.Err.Error(), "bad certificate")) {
		return fmt.Errorf("the agent at %s refused the TLS handshake (%v): it requires a client certificate signed by its CA; pass -client-cert and -client-key", a.base.Host, op.Err)
	}
	return fmt.Errorf("cannot reach the agent at %s: %v", a.base.Host, err)
}

// writeRaw prints a JSON body as received, ending with a newline.
func writeRaw(w io.Writer, data []byte) {
	_, _ = w.Write(data)
	if len(data) == 0 || data[len(data)-1] != '\n' {
		_, _ = io.WriteString(w, "\n")
	}
}
