// Package webhook is the `webhook-test` check: it sends a signed test event to a webhook
// receiver with the current key, as the consumer reads it from the store, and expects the
// receiver to accept it (a 2xx answer).
//
// The signature is HMAC-SHA256 in the header style the receiver verifies (internal/webhooksig):
// Stripe's `t=…,v1=…` or plain hex. A refusal (any other status) is a fail: the receiver does
// not accept the key the sender now signs with. No answer, or no key to sign with, is unknown.
// The key is read for the one request and wiped; the result names the version, never the key.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/webhooksig"
)

// Config is the `webhook-test` check's configuration.
type Config struct {
	URL    string `yaml:"url" rotor:"required" doc:"The receiver's endpoint; the event is POSTed to it."`
	Style  string `yaml:"style" rotor:"enum=stripe|hex" doc:"Signature header style: stripe (t=…,v1=…, the default) or hex (the body's HMAC in hex)."`
	Header string `yaml:"header" doc:"Header that carries the signature (default Webhook-Signature)."`
	// RetryFor covers a receiver that reloads asynchronously (after a signal): the check runs
	// right after the reloads, and the first event may arrive before the new key is loaded.
	RetryFor time.Duration `yaml:"retry_for" doc:"Send again every 200ms while the receiver refuses or does not answer, for at most this long (default 0: one attempt; the check's timeout still bounds it)."`
}

// DefaultHeader carries the signature when the config does not name one.
const DefaultHeader = "Webhook-Signature"

// Validate reports every problem with the configuration.
func (c *Config) Validate() []provider.FieldError {
	var out []provider.FieldError
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		out = append(out, provider.FieldError{Field: "url", Msg: "needs an absolute http:// or https:// URL"})
	}
	switch c.Style {
	case "", webhooksig.Stripe, webhooksig.Hex:
	default:
		out = append(out, provider.FieldError{Field: "style", Msg: "is stripe or hex"})
	}
	if strings.ContainsAny(c.Header, " \t\r\n:") {
		out = append(out, provider.FieldError{Field: "header", Msg: "is not a header name"})
	}
	if c.RetryFor < 0 {
		out = append(out, provider.FieldError{Field: "retry_for", Msg: "must not be negative"})
	}
	return out
}

// Checker sends the test event.
type Checker struct {
	url, safe, style, header string
	retryFor                 time.Duration
	env                      provider.Env
}

const op = "webhook-test check"

// New builds the check; a configuration that fails Validate is a Terminal error.
func New(cfg *Config, env provider.Env) (*Checker, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, provider.Errorf(provider.Terminal, op, "invalid configuration: %v", errs[0])
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	c := &Checker{url: cfg.URL, safe: provider.SafeURL(cfg.URL), style: cfg.Style, header: cfg.Header, retryFor: cfg.RetryFor, env: env}
	if c.style == "" {
		c.style = webhooksig.Stripe
	}
	if c.header == "" {
		c.header = DefaultHeader
	}
	return c, nil
}

// event is the test event's body: what it is and which version signed it, nothing secret.
type event struct {
	Type       string `json:"type"`
	Credential string `json:"credential"`
	Version    string `json:"version"`
	Created    int64  `json:"created"`
}

// Check sends one signed test event. Every outcome of the call is a result; it returns an
// error only for a request it cannot build.
func (c *Checker) Check(ctx context.Context, req provider.CheckRequest) (provider.CheckResult, error) {
	now := req.Now
	if now.IsZero() {
		now = c.env.Now()
	}
	res := provider.CheckResult{Query: "POST " + c.safe + " signed (" + c.style + ", " + c.header + ")", Threshold: "status 2xx", At: now}
	if req.Value == nil {
		res.Verdict, res.Reason, res.Message = provider.Unknown, "no key", "no store to read the current key from"
		return res, nil
	}
	key, err := req.Value(ctx)
	if err != nil {
		res.Verdict, res.Reason = provider.Unknown, "key unreadable"
		res.Message = fmt.Sprintf("reading version %s to sign with: %v", req.Current.ID, err)
		return res, nil
	}
	defer key.Wipe()
	body, err := json.Marshal(event{Type: "rotor.test", Credential: req.Credential, Version: req.Current.ID, Created: now.Unix()})
	if err != nil {
		return provider.CheckResult{}, provider.Wrap(provider.Terminal, op, err)
	}
	k := key.Reveal()
	var sig string
	if c.style == webhooksig.Hex {
		sig = webhooksig.SignHex(k, body)
	} else {
		sig = webhooksig.SignStripe(k, body, now)
	}
	clear(k)

	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DisableKeepAlives = true
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	deadline := c.env.Now().Add(c.retryFor)
	for attempt := 1; ; attempt++ {
		hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
		if err != nil {
			return provider.CheckResult{}, provider.Errorf(provider.Terminal, op, "POST %s: cannot build the request", c.safe)
		}
		hr.Header.Set("Content-Type", "application/json")
		hr.Header.Set("User-Agent", "rotor")
		hr.Header.Set(c.header, sig)
		resp, err := client.Do(hr)
		switch {
		case err != nil:
			res.Verdict, res.Reason, res.Observed = provider.Unknown, "no answer", ""
			res.Message = fmt.Sprintf("POST %s: %s", c.safe, describe(ctx, err))
		case resp.StatusCode < 200 || resp.StatusCode > 299:
			resp.Body.Close()
			res.Verdict, res.Reason, res.Observed = provider.Fail, "refused", "status "+strconv.Itoa(resp.StatusCode)
			res.Message = fmt.Sprintf("POST %s answered %d to a test event signed with version %s", c.safe, resp.StatusCode, req.Current.ID)
		default:
			resp.Body.Close()
			res.Observed = "status " + strconv.Itoa(resp.StatusCode)
			res.Verdict, res.Reason = provider.Pass, "accepted"
			res.Message = fmt.Sprintf("POST %s accepted a test event signed with version %s (%d)", c.safe, req.Current.ID, resp.StatusCode)
			return res, nil
		}
		if ctx.Err() != nil || !c.env.Now().Before(deadline) {
			if attempt > 1 {
				res.Message += fmt.Sprintf(" (%d attempts in %s)", attempt, c.retryFor)
			}
			return res, nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// describe names a transport failure without the URL, which may carry a token.
func describe(ctx context.Context, err error) string {
	switch {
	case ctx.Err() != nil:
		return "no answer before the timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
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
