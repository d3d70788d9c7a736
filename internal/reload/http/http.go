// Package http is the `http` reload: it calls a consumer's admin endpoint (POST
// /admin/reload-secrets) and expects a status.
//
// Statuses map to error kinds the engine acts on: 5xx, timeouts and refused connections are
// Retryable; 401 and 403 are Denied; any other unexpected status is Terminal. Errors name the
// endpoint without its query string or user info, which may carry tokens.
package http

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"

	"github.com/rotorhq/rotor/internal/provider"
)

// Config is the `http` reload's configuration.
type Config struct {
	URL          string `yaml:"url" rotor:"required"`
	Method       string `yaml:"method" rotor:"enum=GET|POST|PUT" doc:"Default POST."`
	ExpectStatus int    `yaml:"expect_status" doc:"Default 200."`
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		out = append(out, provider.FieldError{Field: "url", Msg: "needs an absolute http:// or https:// URL"})
	}
	switch c.Method {
	case "", "GET", "POST", "PUT":
	default:
		out = append(out, provider.FieldError{Field: "method", Msg: "is one of GET, POST, PUT"})
	}
	if c.ExpectStatus != 0 && (c.ExpectStatus < 100 || c.ExpectStatus > 599) {
		out = append(out, provider.FieldError{Field: "expect_status", Msg: "is an HTTP status, 100 to 599"})
	}
	return out
}

// Reloader calls an admin endpoint.
type Reloader struct {
	url    string
	safe   string // the URL without query or user info, for messages
	method string
	expect int
	client *http.Client
}

const op = "http reload"

// New builds the reload; a configuration that fails Validate is a Terminal error. The timeout
// is the context's: the reload block's `timeout`.
func New(cfg *Config, env provider.Env) (*Reloader, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, provider.Errorf(provider.Terminal, op, "invalid configuration: %v", errs[0])
	}
	r := &Reloader{url: cfg.URL, safe: provider.SafeURL(cfg.URL), method: cfg.Method, expect: cfg.ExpectStatus}
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.expect == 0 {
		r.expect = http.StatusOK
	}
	r.client = &http.Client{
		// The status the endpoint answers is the evidence; a redirect is not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return r, nil
}

// Reload calls the endpoint and compares the status.
func (r *Reloader) Reload(ctx context.Context, req provider.ReloadRequest) (provider.ReloadResponse, error) {
	hr, err := http.NewRequestWithContext(ctx, r.method, r.url, nil)
	if err != nil {
		return provider.ReloadResponse{}, provider.Errorf(provider.Terminal, op, "%s %s: cannot build the request", r.method, r.safe)
	}
	hr.Header.Set("User-Agent", "rotor")
	resp, err := r.client.Do(hr)
	if err != nil {
		kind, why := classify(ctx, err)
		return provider.ReloadResponse{}, provider.Errorf(kind, op, "%s %s: %s", r.method, r.safe, why)
	}
	// Drain a little so the connection can be reused; the body is not reported.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	detail := fmt.Sprintf("%s %s answered %d", r.method, r.safe, resp.StatusCode)
	if resp.StatusCode == r.expect {
		return provider.ReloadResponse{Detail: detail}, nil
	}
	var kind provider.ErrorKind
	switch {
	case resp.StatusCode >= 500:
		kind = provider.Retryable
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		kind = provider.Denied
	case resp.StatusCode == http.StatusTooManyRequests:
		kind = provider.Retryable
	default:
		kind = provider.Terminal
	}
	return provider.ReloadResponse{Detail: detail}, provider.Errorf(kind, op, "%s %s answered %d, want %d", r.method, r.safe, resp.StatusCode, r.expect)
}

// classify names a transport failure and its kind: a timeout, a refused or reset
// connection or a temporary DNS failure are Retryable; an unknown host or a certificate that
// does not verify are Terminal. The text holds no URL.
func classify(ctx context.Context, err error) (provider.ErrorKind, string) {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	switch {
	case ctx.Err() != nil:
		return provider.Retryable, "no answer before the timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return provider.Retryable, "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return provider.Retryable, "connection reset"
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return provider.Terminal, fmt.Sprintf("host %s not found", dnsErr.Name)
	case errors.As(err, &dnsErr):
		return provider.Retryable, "name lookup failed"
	case isTimeout(err):
		return provider.Retryable, "timed out"
	case errors.As(err, &certErr):
		return provider.Terminal, "the server's certificate does not verify: " + certErr.Err.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return provider.Retryable, "network error: " + innermost(err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return provider.Retryable, "connection closed before an answer"
	}
	return provider.Terminal, innermost(err)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// innermost is the text of the error a *url.Error wraps: the reason without the URL.
func innermost(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}
