package api

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
	"strconv"
	"strings"
	"time"
)

// DefaultAddress is the agent's default HTTP API address.
const DefaultAddress = "127.0.0.1:7070"

// Environment variables DefaultConfig reads, as the CLI does.
const (
	EnvAddress = "AGENT_HTTP_ADDR"
	EnvToken   = "AGENT_HTTP_TOKEN"
)

// maxAnswerBytes bounds a JSON answer the Client reads into memory.
const maxAnswerBytes = 64 << 20

// blockingSlack is added to a blocking read's wait (and the server's
// spread of up to wait/16) before the Client gives up on the answer.
const blockingSlack = 30 * time.Second

// Config configures a Client. The zero value talks to DefaultAddress over
// plain HTTP with no token and no timeout.
type Config struct {
	// Address is the agent's API: HOST:PORT, or an http:// or https:// URL.
	// Default DefaultAddress.
	Address string
	// Token is sent as "Authorization: Bearer TOKEN" when not empty.
	Token string
	// TLS turns on HTTPS when any of its fields is set (or Address is an
	// https:// URL).
	TLS TLSConfig
	// HTTPClient, when not nil, sends every request as is: its transport
	// carries any TLS, and TLS above is then only used for the scheme.
	HTTPClient *http.Client
	// Timeout bounds each ordinary call. Blocking reads are bounded by
	// their wait instead, and snapshot transfers only by their context.
	// 0: only the context bounds a call.
	Timeout time.Duration
}

// TLSConfig is the client side of the agent's TLS.
type TLSConfig struct {
	// CAFile or CAPEM is the CA that signed the agent's certificate.
	// Neither: the system's roots.
	CAFile string
	CAPEM  []byte
	// CertFile and KeyFile are the client certificate for an agent that
	// requires one (mutual TLS); both or neither.
	CertFile, KeyFile string
	// ServerName is the name checked in the agent's certificate when it is
	// not the host of Address.
	ServerName string
	// InsecureSkipVerify turns off every check of the agent's certificate.
	// For tests only.
	InsecureSkipVerify bool
}

func (t TLSConfig) enabled() bool {
	return t.CAFile != "" || len(t.CAPEM) > 0 || t.CertFile != "" || t.ServerName != "" || t.InsecureSkipVerify
}

// DefaultConfig is the zero Config with Address and Token taken from
// $AGENT_HTTP_ADDR and $AGENT_HTTP_TOKEN when they are set.
func DefaultConfig() Config {
	return Config{Address: os.Getenv(EnvAddress), Token: os.Getenv(EnvToken)}
}

// Client calls one agent's HTTP API. It is safe for concurrent use.
type Client struct {
	base  url.URL
	token string
	// hc sends ordinary calls; long sends streams and blocking reads,
	// which its timeout must not cut.
	hc, long *http.Client
}

// NewClient checks cfg and returns a Client. An error names the setting
// at fault.
func NewClient(cfg Config) (*Client, error) {
	base, err := ParseAddress(cfg.Address, cfg.TLS.enabled())
	if err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		transport := &http.Transport{
			Proxy:               nil, // an agent is local or on a private network
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSHandshakeTimeout: 5 * time.Second,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		}
		if base.Scheme == "https" || cfg.TLS.CertFile != "" {
			if transport.TLSClientConfig, err = cfg.TLS.clientConfig(); err != nil {
				return nil, err
			}
		}
		hc = &http.Client{Transport: transport}
	}
	short, long := *hc, *hc
	long.Timeout = 0
	if cfg.Timeout > 0 {
		short.Timeout = cfg.Timeout
	}
	return &Client{base: *base, token: cfg.Token, hc: &short, long: &long}, nil
}

// ParseAddress turns HOST:PORT, or an http(s) URL, into the API's base URL;
// https picks the scheme of a bare HOST:PORT.
func ParseAddress(addr string, https bool) (*url.URL, error) {
	if addr == "" {
		addr = DefaultAddress
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
		return nil, fmt.Errorf("address %q is not HOST:PORT or an http(s) URL", addr)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

func (t TLSConfig) clientConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	pem := t.CAPEM
	if t.CAFile != "" {
		var err error
		if pem, err = os.ReadFile(t.CAFile); err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
	}
	if len(pem) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate found", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("the client certificate and its key must be given together")
	}
	if t.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// Host is the HOST:PORT the Client talks to, for messages.
func (c *Client) Host() string { return c.base.Host }

// request is one call: where, what, and how long it may take.
type request struct {
	method, path string
	query        url.Values
	body         io.Reader
	// size is the body's length when known (-1: unknown, streamed).
	size int64
	// long sends it without the ordinary timeout: streams, blocking reads.
	long bool
	// contentType is the body's, when there is one.
	contentType string
	// timeout, when not 0, bounds a long call (a blocking read's wait).
	timeout time.Duration
}

// send sends r and returns the open answer of a 2xx. Any other answer is
// read, closed and returned as a *StatusError.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	u := c.base
	// r.path is escaped (a key's segments are); Path holds it decoded and
	// RawPath keeps the escaping, so it is not escaped twice.
	path, err := url.PathUnescape(r.path)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", r.path, err)
	}
	u.Path, u.RawPath = path, r.path
	u.RawQuery = r.query.Encode()
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), r.body)
	if err != nil {
		return nil, err
	}
	if r.body != nil && r.size >= 0 {
		req.ContentLength = r.size
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/json")
	hc := c.hc
	if r.long {
		hc = c.long
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return nil, &StatusError{StatusCode: resp.StatusCode, Message: errorMessage(resp.StatusCode, data), Header: resp.Header}
}

// call sends r and decodes a 2xx JSON answer into out (nil: discard it).
// It returns the answer's headers, of an error answer too.
func (c *Client) call(ctx context.Context, r request, out any) (http.Header, error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) {
			return se.Header, err
		}
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return resp.Header, fmt.Errorf("reading the answer from %s: %w", c.base.Host, err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.Header, fmt.Errorf("unexpected answer from %s%s: %w", c.base.Host, r.path, err)
		}
	}
	return resp.Header, nil
}

// readMeta decodes the read-freshness headers.
func readMeta(h http.Header) ReadMeta {
	m := ReadMeta{KnownLeader: h.Get(HeaderKnownLeader) == "true", Stale: h.Get(HeaderStale) == "true"}
	m.Index, _ = strconv.ParseUint(h.Get(HeaderIndex), 10, 64)
	if ms, err := strconv.ParseInt(h.Get(HeaderLastContact), 10, 64); err == nil {
		m.LastContact = time.Duration(ms) * time.Millisecond
		if ms < 0 {
			m.LastContact = -1
		}
	}
	return m
}
