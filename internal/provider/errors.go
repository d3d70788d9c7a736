package provider

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// ErrorKind classifies a provider failure so the engine knows what is safe to do next.
type ErrorKind int

// The kinds.
const (
	// Retryable: a timeout, a 5xx, a lost connection. Retry by policy.
	Retryable ErrorKind = iota + 1
	// Terminal: the request can never succeed as made (bad config, not found). Halt safely.
	Terminal
	// Denied: the identity lacks a permission. A person must grant it; halt safely.
	Denied
	// NeedsHuman: a person must act (a manual step, an ambiguous state). Halt and say what.
	NeedsHuman
)

func (k ErrorKind) String() string {
	switch k {
	case Retryable:
		return "retryable"
	case Terminal:
		return "terminal"
	case Denied:
		return "denied"
	case NeedsHuman:
		return "needs a human"
	}
	return "unknown"
}

// Error is a classified provider failure. Its message must never contain a secret value:
// providers build it from ids, paths and statuses only.
type Error struct {
	Kind ErrorKind
	Op   string // what was attempted: "put version", "alter role"
	Err  error
	// NotStarted says that the request failed before it could change anything, and the
	// provider knows it: the connection was refused, the login failed, the request was refused
	// before it was sent, the server rejected the statement as a whole. Retrying, or giving up,
	// leaves the system as it was. False — the default — says it may have: the failure came
	// after the change was sent (a connection lost while a statement ran, a timeout waiting for
	// the answer), or the provider cannot tell. What rotor tells a person after a failure
	// ("nothing was changed" or "check whether it was") follows from it.
	NotStarted bool
}

func (e *Error) Error() string {
	if e.Op == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("%s: %v", e.Op, e.Err)
}
func (e *Error) Unwrap() error { return e.Err }

// NotStarted marks err as a failure before anything could change (Error.NotStarted); nil
// stays nil. An err that is not a *Error keeps its kind (KindOf) in the *Error that marks it.
func NotStarted(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) && e == err {
		c := *e
		c.NotStarted = true
		return &c
	}
	return &Error{Kind: KindOf(err), Err: err, NotStarted: true}
}

// PartlyDone marks err as a failure that came after part of a request took effect (an
// authority revoked, then the store failed to disable): whatever err says of itself, the
// request as a whole may have changed something. nil stays nil.
func PartlyDone(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindOf(err), Err: err}
}

// MayHaveChanged reports whether the failed request err may have changed something: true
// unless the outermost *Error in its chain says NotStarted. Unclassified errors may have.
func MayHaveChanged(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	return !errors.As(err, &e) || !e.NotStarted
}

// Errorf builds a classified error.
func Errorf(kind ErrorKind, op, format string, args ...any) error {
	return &Error{Kind: kind, Op: op, Err: fmt.Errorf(format, args...)}
}

// Wrap classifies err (nil stays nil).
func Wrap(kind ErrorKind, op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Op: op, Err: err}
}

// KindOf returns the kind of err; an unclassified error is Retryable only if it says it is
// temporary, and Terminal otherwise (unknown failures are never retried blindly).
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	var t interface{ Temporary() bool }
	if errors.As(err, &t) && t.Temporary() {
		return Retryable
	}
	return Terminal
}

// ErrUnsupported is returned (wrapped, Terminal) when a provider cannot work with an
// identity or option it was given.
var ErrUnsupported = errors.New("not supported by this provider")

// ErrNotFound is returned (wrapped) when a version or object does not exist.
var ErrNotFound = errors.New("not found")

// SafeURL is u as an error message or a journal entry may show it: without user info, query
// or fragment, which may carry tokens.
func SafeURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User = nil
	p.RawQuery = ""
	p.ForceQuery = false
	p.Fragment = ""
	return strings.TrimSuffix(p.String(), "?")
}

// Refuse is a Terminal error joining the problems of a request, or nil when there are none:
// a provider checks a request whole and says everything wrong with it at once, before it
// acts (so the error is NotStarted).
func Refuse(op string, problems []error) error {
	if len(problems) == 0 {
		return nil
	}
	return &Error{Kind: Terminal, Op: op, Err: errors.Join(problems...), NotStarted: true}
}

// Problems of a request that every authority refuses alike; each authority adds its own
// (a strategy it does not have, a role that does not fit) and refuses them all at once.

// StrategyProblems refuses a strategy that is not one of supported, an authority config's
// Strategies. The inventory refuses such a strategy when it loads, but a request carries its
// run's strategy, recorded when the run began: a run resumed after the inventory changed the
// authority asks with the old one, and must be refused rather than served the wrong way.
func StrategyProblems(strategy string, supported []string) []error {
	if !slices.Contains(supported, strategy) {
		return []error{fmt.Errorf("strategy %q is not one of %s", strategy, strings.Join(supported, ", "))}
	}
	return nil
}

func keyed(credential, runID string) []error {
	var errs []error
	if credential == "" {
		errs = append(errs, errors.New("no credential named"))
	}
	if runID == "" {
		errs = append(errs, errors.New("no run id: every effect is keyed by its run"))
	}
	return errs
}

// Problems lists what is wrong with a mint request before any authority looks at it.
func (r MintRequest) Problems() []error { return keyed(r.Credential, r.RunID) }

// Problems lists what is wrong with an enable request before any authority looks at it.
func (r EnableRequest) Problems() []error {
	errs := keyed(r.Credential, r.RunID)
	if r.Version.ID == "" {
		errs = append(errs, errors.New("no version id"))
	}
	if r.Value.IsZero() {
		errs = append(errs, errors.New("no value"))
	}
	if r.Previous != nil && r.Previous.ID == r.Version.ID {
		errs = append(errs, fmt.Errorf("version %s is its own previous version", r.Version.ID))
	}
	return errs
}

// Problems lists what is wrong with a revoke request before any authority looks at it.
func (r RevokeRequest) Problems() []error {
	errs := keyed(r.Credential, r.RunID)
	if r.Previous.ID == "" {
		errs = append(errs, errors.New("no previous version id"))
	}
	if r.Current.ID == "" {
		errs = append(errs, errors.New("no current version id"))
	}
	if r.Previous.ID != "" && r.Previous.ID == r.Current.ID {
		errs = append(errs, fmt.Errorf("version %s is both previous and current: revoking it would revoke the value in use", r.Current.ID))
	}
	return errs
}

// Problems lists what is wrong with a restore request before any authority looks at it.
func (r RestoreRequest) Problems() []error {
	errs := keyed(r.Credential, r.RunID)
	if r.Version.ID == "" {
		errs = append(errs, errors.New("no version id"))
	}
	if r.Strategy == "in-place" && r.Value.IsZero() {
		errs = append(errs, errors.New("in-place restore needs the previous value"))
	}
	return errs
}

// Problems lists what is wrong with a discard request before any authority looks at it.
func (r DiscardRequest) Problems() []error {
	errs := keyed(r.Credential, r.RunID)
	if r.Version.ID == "" {
		errs = append(errs, errors.New("no version id"))
	}
	if r.Current != nil && r.Current.ID == r.Version.ID {
		errs = append(errs, fmt.Errorf("version %s is current: discarding it would take away the value in use", r.Version.ID))
	}
	return errs
}
