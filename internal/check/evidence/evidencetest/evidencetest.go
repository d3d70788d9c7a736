// Package evidencetest is what the tests of the query checks share: running a check the way
// the engine does, and asserting on its result. It imports testing and is only for tests.
package evidencetest

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// checkTimeout bounds one check run in a test: long enough for a real server started by
// testenv, short enough that a hang fails the test instead of stalling it.
const checkTimeout = 20 * time.Second

// Run builds a check from cfg with newChecker (a check package's New, with an empty Env)
// and runs it with req, as Check does. A configuration New refuses fails the test.
func Run[Cfg any, C provider.Checker](t testing.TB, newChecker func(*Cfg, provider.Env) (C, error), cfg Cfg, req provider.CheckRequest) provider.CheckResult {
	t.Helper()
	c, err := newChecker(&cfg, provider.Env{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return Check(t, c, req)
}

// Check runs c with req, bounded by a timeout, and logs the result. An error fails the test:
// every outcome of asking a server is a result, and an error is only for a request a check
// cannot serve.
func Check(t testing.TB, c provider.Checker, req provider.CheckRequest) provider.CheckResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), checkTimeout)
	defer cancel()
	res, err := c.Check(ctx, req)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	t.Logf("%s: %s (%s); observed %q; message %q", res.Verdict, res.Reason, res.Threshold, res.Observed, res.Message)
	return res
}

// Want fails the test unless res has verdict (fatally: what follows would not make sense)
// and its Reason contains every one of reason.
func Want(t testing.TB, res provider.CheckResult, verdict provider.Verdict, reason ...string) {
	t.Helper()
	wantVerdict(t, res, verdict)
	for _, r := range reason {
		if !strings.Contains(res.Reason, r) {
			t.Errorf("reason %q lacks %q", res.Reason, r)
		}
	}
}

// WantSaid is Want for texts that may stand in the Reason or in the Message: it fails the
// test unless res has verdict and each of text is in one of them.
func WantSaid(t testing.TB, res provider.CheckResult, verdict provider.Verdict, text ...string) {
	t.Helper()
	wantVerdict(t, res, verdict)
	for _, r := range text {
		if !strings.Contains(res.Reason+" "+res.Message, r) {
			t.Errorf("reason %q and message %q lack %q", res.Reason, res.Message, r)
		}
	}
}

func wantVerdict(t testing.TB, res provider.CheckResult, verdict provider.Verdict) {
	t.Helper()
	if res.Verdict != verdict {
		t.Fatalf("verdict %s (%s; %s), want %s", res.Verdict, res.Reason, res.Message, verdict)
	}
}

// Deadlines is a transport that records the deadline each request's context carries on its
// way to Next: what bounds the calls a check makes. It serves as an http.RoundTripper and as
// an azcore Transporter (Do).
type Deadlines struct {
	Next http.RoundTripper
	mu   sync.Mutex
	got  []time.Time // zero: no deadline
}

// RoundTrip implements http.RoundTripper.
func (d *Deadlines) RoundTrip(r *http.Request) (*http.Response, error) {
	dl, _ := r.Context().Deadline()
	d.mu.Lock()
	d.got = append(d.got, dl)
	d.mu.Unlock()
	return d.Next.RoundTrip(r)
}

// Do is RoundTrip, for an azcore client's Transport.
func (d *Deadlines) Do(r *http.Request) (*http.Response, error) { return d.RoundTrip(r) }

// Check runs c, whose requests go through d, with req under a context whose deadline is 90s
// away — as the engine would for a check block's `timeout: 90s`, longer than any check's own
// default ever was — and fails the test unless at least one request went out and every one
// carried exactly that deadline, with nothing shorter of the check's own in front of it.
func (d *Deadlines) Check(t testing.TB, c provider.Checker, req provider.CheckRequest) provider.CheckResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	want, _ := ctx.Deadline()
	res, err := c.Check(ctx, req)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.got) == 0 {
		t.Fatal("no request went out")
	}
	for i, got := range d.got {
		switch {
		case got.IsZero():
			t.Errorf("request %d had no deadline, want the check's context's", i+1)
		case !got.Equal(want):
			t.Errorf("request %d was bounded %s before the check's context's deadline: something of the check's own is shorter", i+1, want.Sub(got).Round(time.Second))
		}
	}
	return res
}
