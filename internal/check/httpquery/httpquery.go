// Package httpquery is how the query checks (promql, logsql, loki) ask their server over
// HTTP, and what they make of a call that brought no answer to judge.
//
// The client follows redirects only to the configured host (never from https to http): the
// answer must come from the server the inventory names, and the credentials in its URL must
// not travel elsewhere. It reads at most MaxAnswer bytes of an answer, so a query that
// returns too much is a clear unknown rather than a check that eats memory. It has no
// timeout of its own: the caller's context bounds each call, and the engine gives that
// context the check block's `timeout` — a bound here would be a second, shorter one that the
// inventory could not raise. A call that gets no answer — the server redirected elsewhere,
// answered too much, was too slow, or could not be reached — is missing evidence:
// Unanswered and Unreachable turn it into an unknown's reason and message, naming the server
// without the password its URL may carry.
package httpquery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/rotorhq/rotor/internal/provider"
)

const (
	// MaxAnswer bounds how much of an answer is read.
	MaxAnswer = 32 << 20
	// maxRedirects bounds redirects to the same host.
	maxRedirects = 3
)

// ErrTooLarge is the error of reading an answer past MaxAnswer.
var ErrTooLarge = errors.New("answer larger than the limit")

// BaseURLProblem is what is wrong with raw as a query server's base URL, worded for the
// url field of a check's configuration; "" when it is one: an absolute http:// or https://
// URL (with a path prefix if the server has one), without a query or fragment, since the
// check appends the API's path and its own query.
func BaseURLProblem(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return "needs an absolute http:// or https:// URL"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "is the server's base URL, without a query or fragment"
	}
	return ""
}

// Server is a query server as a check asks it.
type Server struct {
	// Name is what messages call the server: "Prometheus", "VictoriaLogs".
	Name string
	// Safe is its URL as messages show it, without a password.
	Safe string
	// Client asks it: same-host redirects only, answers bounded by MaxAnswer, no timeout
	// but the request's context.
	Client *http.Client
	base   *url.URL
}

// New is the server at rawURL, an absolute http:// or https:// URL the check's Validate has
// accepted (it may carry user:password@).
func New(name, rawURL string) (*Server, error) {
	base, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("url %s: not a URL", provider.SafeURL(rawURL))
	}
	return &Server{
		Name: name,
		Safe: provider.SafeURL(rawURL),
		Client: &http.Client{
			Transport:     limitAnswer{http.DefaultTransport.(*http.Transport).Clone()},
			CheckRedirect: sameHost(base),
		},
		base: base,
	}, nil
}

// Request is a request for path below the server's URL, with query as its URL query when it
// is not nil. The URL's user:password is sent as basic auth, not in the URL.
func (s *Server) Request(ctx context.Context, method, path string, query url.Values, body io.Reader) (*http.Request, error) {
	u := s.base.JoinPath(path)
	u.User = nil
	if query != nil {
		u.RawQuery = query.Encode()
	}
	r, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if user := s.base.User; user != nil {
		pw, _ := user.Password()
		r.SetBasicAuth(user.Username(), pw)
	}
	return r, nil
}

// At is how messages name the server: "Prometheus at http://host:9090".
func (s *Server) At() string { return s.Name + " at " + s.Safe }

// Unanswered is the unknown's reason and message for a call that brought no answer to
// judge: a redirect to another host, an answer past MaxAnswer (tooLarge says what to do
// about it), or the check's deadline or cancellation (told by ctx). ok is false for any
// other error: an answer the check reads itself, or a server not reached (Unreachable).
func (s *Server) Unanswered(ctx context.Context, err error, tooLarge string) (reason, msg string, ok bool) {
	at := s.At()
	var redirect *redirectError
	switch {
	case errors.As(err, &redirect):
		return "redirected elsewhere", fmt.Sprintf("%s redirected to %s; only redirects to the same host are followed: fix the url", at, redirect.to), true
	case errors.Is(err, ErrTooLarge):
		return "answer too large", fmt.Sprintf("%s answered with more than %d MiB: %s", at, MaxAnswer>>20, tooLarge), true
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "no answer in time", at + " did not answer before the check's timeout", true
	case ctx.Err() != nil:
		return "interrupted", at + ": the check was cancelled before the answer came", true
	}
	return "", "", false
}

// Unreachable is the unknown's reason and message for a call that reached no server: what
// the transport said (refused, reset, host not found, timed out), without the URL, which
// may carry a password.
func (s *Server) Unreachable(err error) (reason, msg string) {
	return s.Name + " unreachable", s.At() + ": " + s.describe(err)
}

func (s *Server) describe(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (is " + s.Name + " running, and is this its address?)"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return "host " + dnsErr.Name + " not found"
	case isTimeout(err):
		return "timed out"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// redirectError is a redirect to another host, which is not followed: the answer must come
// from the server the inventory names (and its credentials must not travel elsewhere).
type redirectError struct{ to string }

func (e *redirectError) Error() string { return "redirected to " + e.to }

// sameHost follows a few redirects that stay on base's host, never from https to http.
func sameHost(base *url.URL) func(*http.Request, []*http.Request) error {
	return func(r *http.Request, via []*http.Request) error {
		if !strings.EqualFold(r.URL.Host, base.Host) || (base.Scheme == "https" && r.URL.Scheme != "https") {
			return &redirectError{to: r.URL.Scheme + "://" + r.URL.Host}
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("more than %d redirects", maxRedirects)
		}
		return nil
	}
}

// limitAnswer stops reading an answer past MaxAnswer bytes.
type limitAnswer struct{ rt http.RoundTripper }

func (l limitAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: MaxAnswer}
	return resp, nil
}

type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		n, err := b.ReadCloser.Read(one[:])
		if n > 0 {
			return 0, ErrTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
