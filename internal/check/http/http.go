// Package http is the `http` check: a probe that calls a URL and compares the answer's status
// (and optionally its body) with what is expected.
//
// A wrong status or body is a fail, with the observed status; no answer at all (refused,
// timed out, a certificate that does not verify) is unknown, with the reason — a consumer
// that cannot be reached has not been proven to work, nor to fail.
package http

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// Config is the `http` check's configuration.
type Config struct {
	URL    string `yaml:"url" rotor:"required"`
	Method string `yaml:"method" rotor:"enum=GET|HEAD|POST" doc:"Default GET."`
	As     string `yaml:"as" rotor:"ref=identity" doc:"Identity whose credential the request carries."`
	CAFile string `yaml:"ca_file" doc:"PEM trust bundle for https, relative to the inventory's folder (default: the system's). Re-read at every check."`
	Expect Expect `yaml:"expect"`
}

// Expect is an HTTP check's pass condition.
type Expect struct {
	Status       int    `yaml:"status" doc:"Default 200."`
	BodyContains string `yaml:"body_contains" doc:"Text the body must contain (its first MiB is read)."`
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		out = append(out, provider.FieldError{Field: "url", Msg: "needs an absolute http:// or https:// URL"})
	}
	switch c.Method {
	case "", "GET", "HEAD", "POST":
	default:
		out = append(out, provider.FieldError{Field: "method", Msg: "is one of GET, HEAD, POST"})
	}
	if c.Method == "HEAD" && c.Expect.BodyContains != "" {
		out = append(out, provider.FieldError{Field: "expect.body_contains", Msg: "a HEAD answer has no body"})
	}
	if c.Expect.Status != 0 && (c.Expect.Status < 100 || c.Expect.Status > 599) {
		out = append(out, provider.FieldError{Field: "expect.status", Msg: "is an HTTP status, 100 to 599"})
	}
	return out
}

// maxBody is how much of a body is searched for body_contains.
const maxBody = 1 << 20

// Checker calls the URL.
type Checker struct {
	url, safe, method string
	status            int
	body              []byte
	caFile            string
	env               provider.Env
}

const op = "http check"

// New builds the check. A configuration that fails Validate, an `as` identity (not supported
// yet) or a ca_file that cannot be read now is a Terminal error.
func New(cfg *Config, env provider.Env) (*Checker, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, provider.Errorf(provider.Terminal, op, "invalid configuration: %v", errs[0])
	}
	if cfg.As != "" {
		return nil, provider.Wrap(provider.Terminal, op, fmt.Errorf("as %s: carrying an identity's credential: %w", cfg.As, provider.ErrUnsupported))
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	c := &Checker{url: cfg.URL, safe: provider.SafeURL(cfg.URL), method: cfg.Method, status: cfg.Expect.Status, body: []byte(cfg.Expect.BodyContains), env: env}
	if c.method == "" {
		c.method = http.MethodGet
	}
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if cfg.CAFile != "" {
		c.caFile = env.Path(cfg.CAFile)
		if _, err := c.pool(); err != nil {
			return nil, provider.Wrap(provider.Terminal, op, err)
		}
	}
	return c, nil
}

// pool reads the trust bundle (again: a certificate rotation may change it).
func (c *Checker) pool() (*x509.CertPool, error) {
	pem, err := os.ReadFile(c.caFile)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s holds no PEM certificate", c.caFile)
	}
	return p, nil
}

// Check calls the URL once. It returns an error only for a request it cannot even build; every
// outcome of the call itself is a result.
func (c *Checker) Check(ctx context.Context, req provider.CheckRequest) (provider.CheckResult, error) {
	res := provider.CheckResult{
		Query:     c.method + " " + c.safe,
		Threshold: "status " + strconv.Itoa(c.status),
		At:        req.Now,
	}
	if res.At.IsZero() {
		res.At = c.env.Now()
	}
	if len(c.body) > 0 {
		res.Threshold += fmt.Sprintf(", body contains %q", c.body)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DisableKeepAlives = true // each check proves a fresh connection
	if c.caFile != "" {
		pool, err := c.pool()
		if err != nil {
			res.Verdict, res.Reason, res.Message = provider.Unknown, "trust bundle unreadable", err.Error()
			return res, nil
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	client := &http.Client{
		Transport: transport,
		// The status the endpoint answers is the evidence: a redirect is not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer transport.CloseIdleConnections()

	hr, err := http.NewRequestWithContext(ctx, c.method, c.url, nil)
	if err != nil {
		return provider.CheckResult{}, provider.Errorf(provider.Terminal, op, "%s %s: cannot build the request", c.method, c.safe)
	}
	hr.Header.Set("User-Agent", "rotor")
	resp, err := client.Do(hr)
	if err != nil {
		res.Verdict, res.Reason = provider.Unknown, "no answer"
		res.Message = fmt.Sprintf("%s %s: %s", c.method, c.safe, describe(ctx, err))
		return res, nil
	}
	defer resp.Body.Close()
	res.Observed = "status " + strconv.Itoa(resp.StatusCode)
	if resp.StatusCode != c.status {
		res.Verdict, res.Reason = provider.Fail, "unexpected status"
		res.Message = fmt.Sprintf("%s %s answered %d, want %d", c.method, c.safe, resp.StatusCode, c.status)
		return res, nil
	}
	if len(c.body) > 0 {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		if err != nil {
			res.Verdict, res.Reason = provider.Unknown, "body unreadable"
			res.Message = fmt.Sprintf("%s %s: reading the body: %s", c.method, c.safe, describe(ctx, err))
			return res, nil
		}
		if !bytes.Contains(body, c.body) {
			res.Verdict, res.Reason = provider.Fail, "body mismatch"
			res.Observed += ", body without the expected text"
			res.Message = fmt.Sprintf("%s %s answered %d but its body (first %d bytes read) does not contain %q", c.method, c.safe, resp.StatusCode, len(body), c.body)
			return res, nil
		}
		res.Observed += ", body contains the expected text"
	}
	res.Verdict, res.Reason = provider.Pass, "as expected"
	res.Message = fmt.Sprintf("%s %s answered %d", c.method, c.safe, resp.StatusCode)
	return res, nil
}

// describe names a transport failure without the URL, which may carry a token.
func describe(ctx context.Context, err error) string {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	switch {
	case ctx.Err() != nil:
		return "no answer before the timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return "host " + dnsErr.Name + " not found"
	case errors.As(err, &certErr):
		return "the server's certificate does not verify: " + certErr.Err.Error()
	}
	var t interface{ Timeout() bool }
	if errors.As(err, &t) && t.Timeout() {
		return "timed out"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}
