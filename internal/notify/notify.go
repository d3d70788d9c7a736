// Package notify tells people that a rotation needs them: a gate that blocks, an approval
// to give, a rollback, an exception about to expire or expired. It delivers one Event to
// named sinks — a generic JSON webhook (signed with HMAC-SHA256 when a key is configured) or
// a Slack-compatible incoming webhook (text + blocks) — with a short timeout and a few
// retries on 5xx, 429 and timeouts.
//
// A notification is advice, not a step: delivery never fails or holds a rotation, and the
// engine journals what was sent and what failed. An Event carries ids, names, times and
// messages that the engine already scrubbed — never a value — and a webhook URL (a Slack URL
// is itself a secret) is never printed beyond its scheme and host.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Type is what happened.
type Type string

// The events. A sink subscribes to some of them, or to All.
const (
	GateBlocked       Type = "gate-blocked"       // a gate stopped the run and a person or evidence must clear it
	ApprovalNeeded    Type = "approval-needed"    // a critical credential waits for a revocation approval
	Rollback          Type = "rollback"           // a rollback opened an exception (owner, expiry)
	ExceptionExpiring Type = "exception-expiring" // an open exception expires within the warning lead time
	ExceptionExpired  Type = "exception-expired"  // an exception expired (or expired and is overdue)
	All               Type = "all"
)

// Types are the events a sink may name, in the order the documentation lists them.
var Types = []Type{GateBlocked, ApprovalNeeded, Rollback, ExceptionExpiring, ExceptionExpired}

// Known reports whether t is an event type or All.
func Known(t string) bool {
	for _, k := range Types {
		if string(k) == t {
			return true
		}
	}
	return t == string(All)
}

// Exception is the bounded rollback an event is about.
type Exception struct {
	Consumers []string  `json:"consumers"`
	Owner     string    `json:"owner"`
	Reason    string    `json:"reason,omitempty"`
	OpenedBy  string    `json:"opened_by,omitempty"`
	Expires   time.Time `json:"expires"`
	State     string    `json:"state,omitempty"`
}

// Event is one notification. It holds ids, names and scrubbed messages only.
type Event struct {
	// ID is unique per occurrence and the same on every delivery of it — retries here, and
	// the engine's later attempts by other processes (delivery is at least once): a receiver
	// drops a delivery whose id it has seen.
	ID         string    `json:"id"`
	Type       Type      `json:"event"`
	At         time.Time `json:"at"`
	Credential string    `json:"credential"`
	Owner      string    `json:"owner,omitempty"` // the credential's owning team
	Critical   bool      `json:"critical"`
	RunID      string    `json:"run_id"`
	Phase      string    `json:"phase,omitempty"`
	Gate       string    `json:"gate,omitempty"`
	Verdict    string    `json:"verdict,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Message    string    `json:"message"`
	Unblock    string    `json:"unblock,omitempty"`
	// Initiator started the run; Actor did what caused the event (the person who rolled
	// back), or is "rotor".
	Initiator string     `json:"initiator,omitempty"`
	Actor     string     `json:"actor,omitempty"`
	Consumers []string   `json:"consumers,omitempty"`
	Exception *Exception `json:"exception,omitempty"`
}

// Sink is one configured destination, resolved: its URL and key read from the environment.
type Sink struct {
	Name string
	// Kind is "webhook" or "slack".
	Kind string
	URL  string
	// Key signs webhook bodies (X-Rotor-Signature); empty: unsigned. Cleared by the caller
	// when done.
	Key     []byte
	Timeout time.Duration
}

// Kinds of sink.
const (
	KindWebhook = "webhook"
	KindSlack   = "slack"
)

// DefaultTimeout bounds one delivery attempt.
const DefaultTimeout = 5 * time.Second

// Retries after the first attempt, on a 5xx, a 429, a timeout or a lost connection.
const Retries = 3

// Backoff is the wait before retry n (1-based): 0.5s, 1s, 2s.
func Backoff(n int) time.Duration { return 250 * time.Millisecond << n }

// Client delivers events. The zero Client uses a private http.Client and real sleeps.
type Client struct {
	HTTP *http.Client
	// Sleep waits between retries (nil: a timer that ctx cancels).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Error is a failed delivery. Its message names the sink and what went wrong — a status,
// a timeout — and the URL only as scheme://host.
type Error struct {
	Sink     string
	Status   int // the last HTTP status, 0 when none came
	Attempts int
	Err      error
}

func (e *Error) Error() string {
	what := ""
	switch {
	case e.Status != 0:
		what = fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	case e.Err != nil:
		what = e.Err.Error()
	}
	if e.Attempts > 1 {
		what += fmt.Sprintf(" (after %d attempts)", e.Attempts)
	}
	return "notification " + e.Sink + " failed: " + what
}

func (e *Error) Unwrap() error { return e.Err }

// Send delivers ev to s: one POST, retried on a 5xx, a 429, a timeout or a lost connection,
// each attempt bounded by s.Timeout. It returns nil on a 2xx. Every attempt carries the same
// X-Rotor-Event-Id, so a receiver that saw an attempt whose answer was lost drops the retry.
func (c *Client) Send(ctx context.Context, s Sink, ev Event) error {
	body, err := Body(s.Kind, ev)
	if err != nil {
		return &Error{Sink: s.Name, Err: err}
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &Error{Sink: s.Name, Err: errors.New("the URL is not an http(s) URL")}
	}
	host := u.Scheme + "://" + u.Host
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{}
	}
	sleep := c.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	var last *Error
	for attempt := 1; attempt <= 1+Retries; attempt++ {
		if attempt > 1 {
			if err := sleep(ctx, Backoff(attempt-1)); err != nil {
				last.Attempts = attempt - 1
				return last
			}
		}
		status, err := c.post(ctx, hc, s, u.String(), body, ev.ID, timeout)
		switch {
		case err == nil && status/100 == 2:
			return nil
		case err != nil:
			last = &Error{Sink: s.Name, Attempts: attempt, Err: describe(err, host, timeout)}
			if ctx.Err() != nil {
				return last
			}
		default:
			last = &Error{Sink: s.Name, Attempts: attempt, Status: status}
			if status/100 != 5 && status != http.StatusTooManyRequests {
				return last // the receiver refused this body: sending it again changes nothing
			}
		}
	}
	return last
}

func (c *Client) post(ctx context.Context, hc *http.Client, s Sink, u string, body []byte, id string, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rotor-notify/1")
	if s.Kind == KindWebhook {
		req.Header.Set("X-Rotor-Event-Id", id)
		if len(s.Key) > 0 {
			req.Header.Set("X-Rotor-Signature", Sign(s.Key, body))
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// describe turns a transport error into words that name the host only: *url.Error prints
// the whole URL, whose path and query may be the secret of a Slack webhook.
func describe(err error, host string, timeout time.Duration) error {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("POST %s: no answer within %s", host, timeout)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("POST %s: cancelled", host)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("POST %s: %v", host, err)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Sign is the X-Rotor-Signature of body: "sha256=" and the hex HMAC-SHA256 of the body
// under key. A receiver computes the same over the raw body and compares in constant time.
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is body's signature under key (for receivers and tests).
func Verify(key, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(key, body)), []byte(sig))
}

// Body is the JSON a sink of the given kind receives for ev.
func Body(kind string, ev Event) ([]byte, error) {
	switch kind {
	case KindWebhook:
		return json.Marshal(ev)
	case KindSlack:
		return json.Marshal(slackPayload(ev))
	}
	return nil, fmt.Errorf("unknown notification type %q", kind)
}

// Title is the event in one line, as a chat message or a journal entry says it.
func Title(ev Event) string {
	switch ev.Type {
	case GateBlocked:
		return fmt.Sprintf("%s: rotation blocked at %s", ev.Credential, ev.Gate)
	case ApprovalNeeded:
		return fmt.Sprintf("%s: revocation needs an approval", ev.Credential)
	case Rollback:
		return fmt.Sprintf("%s: rolled back", ev.Credential)
	case ExceptionExpiring:
		if ev.Exception != nil {
			return fmt.Sprintf("%s: exception expires %s", ev.Credential, ev.Exception.Expires.UTC().Format(time.RFC3339))
		}
		return ev.Credential + ": exception expiring"
	case ExceptionExpired:
		return fmt.Sprintf("%s: exception expired", ev.Credential)
	}
	return ev.Credential + ": " + string(ev.Type)
}
