// Package evidence holds the rules the query checks (promql, logsql, loki, kql and log)
// share, so that they judge and word their evidence alike: how a check's configuration is
// accepted, the instant a run judges at, the window it observes and when that window is
// complete, and how a result writes times, durations, counts and shares.
//
// The window rule is the one every check states in its doc: a run looks from the cutover
// (req.Since) to now, or at the last `window` when that starts later; a window that would
// reach back before the cutover is not full yet, and until it is, the absence of a breach
// is only a short look — unknown, with CompleteAt — while a breach is a fail whenever it
// comes.
package evidence

import (
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// Validated is what a check's New returns for its configuration: a Terminal error of op
// when cfg is nil ("no configuration") or Validate reports a problem (naming the first),
// nil when cfg is valid.
func Validated[C any, P interface {
	*C
	Validate() []provider.FieldError
}](op string, cfg P) error {
	if cfg == nil {
		return provider.Errorf(provider.Terminal, op, "no configuration")
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return provider.Errorf(provider.Terminal, op, "invalid configuration: %v", errs[0])
	}
	return nil
}

// Now is the instant a check run judges at: req.Now when the engine set it, else env.Now,
// else the clock.
func Now(req provider.CheckRequest, env provider.Env) time.Time {
	switch {
	case !req.Now.IsZero():
		return req.Now
	case env.Now != nil:
		return env.Now()
	}
	return time.Now()
}

// Window is the time a check run observes, From to To, and when it will be full.
type Window struct {
	From, To time.Time
	// Length is the span the window must cover to be evidence: its own length, or, for a
	// window that runs from the cutover, the least span (one bin).
	Length time.Duration
	// CompleteAt is when a window that reaches back before the cutover will lie wholly
	// after it (or a window from the cutover will span its least length); zero when the
	// window is full already.
	CompleteAt time.Time
}

// Observe is the window of a run at now: from since (the cutover) to now, or the last
// length when that starts later (or since is zero). From is zero when since is zero and
// length is 0: there is no start. With a length and a since, the window is full once
// since+length has come; before then CompleteAt is that instant. A window with no length of
// its own (from the cutover on) is full once it spans least — one bin: a check run right at
// cutover has seen nothing yet, and a silent instant proves nothing, so the first verify
// waits for the first bin instead of answering unknown for good. From may be after now
// (a since in the future): the caller says how it treats an empty window.
func Observe(since, now time.Time, length, least time.Duration) Window {
	w := Window{From: since, To: now, Length: length}
	if length > 0 && (since.IsZero() || now.Add(-length).After(since)) {
		w.From = now.Add(-length)
	}
	if w.Length <= 0 {
		w.Length = least
	}
	if w.Length > 0 && !since.IsZero() && now.Before(since.Add(w.Length)) {
		w.CompleteAt = since.Add(w.Length)
	}
	return w
}

// Full reports whether the window has its whole length.
func (w Window) Full() bool { return w.CompleteAt.IsZero() }

// Interval is the window as a result carries it.
func (w Window) Interval() *provider.Interval { return &provider.Interval{From: w.From, To: w.To} }
