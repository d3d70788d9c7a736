// Package plan computes what is due: for every credential its last rotation, its expiry, the
// next due date from its policy, the opening of its cutover window that the rotation will use
// once freezes are applied, and a status. It changes nothing, and it invents no dates: a
// credential with no recorded history is reported as such. Where the CA suggests a renewal
// window (ACME Renewal Information, gathered by the caller into History), the due date is a
// fixed point inside it, never later than the inventory's own rules.
//
// The package is pure: inventory, history and the instant in, entries out.
package plan

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/rotorhq/rotor/internal/inventory"
	"github.com/rotorhq/rotor/internal/schedule"
)

// History is what the state store knows of one credential.
type History struct {
	LastRotated time.Time // zero: never rotated by rotor
	Expires     time.Time // zero: unknown or does not expire
	// Issued is the start of the current value's lifetime, which rotate.renew_at counts
	// from: the version's creation in the store, as its run recorded it (the state keeps no
	// certificate NotBefore; a store writes a version just after the authority issues it).
	// Zero: unknown, and LastRotated (when it became current) is used instead.
	Issued  time.Time
	Version string
	Run     *Run // the run in progress, if any
	// Renewal is the window in which the issuer suggests renewing the current value (ACME
	// Renewal Information); nil when it gives none or was not asked.
	Renewal *RenewalWindow
	// RenewalNote says why there is no Renewal although the authority was asked ("CA offers
	// no renewal information", "renewal information unavailable: …"); shown as a note.
	RenewalNote string
}

// RenewalWindow is an issuer's suggested renewal window.
type RenewalWindow struct {
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Source string    `json:"source"` // "ARI"
	// Explanation is the CA's page about the window, when it gives one.
	Explanation string `json:"explanation,omitempty"`
}

// Run is a run in progress, as plan shows it.
type Run struct {
	ID         string      `json:"id"`
	Phase      string      `json:"phase"`
	Exceptions []Exception `json:"exceptions,omitempty"`
}

// Exception is a bounded rollback that is not closed: plan flags it once it has expired, so
// that no exception stays open silently.
type Exception struct {
	Consumers []string  `json:"consumers"`
	Owner     string    `json:"owner"`
	Expires   time.Time `json:"expires"`
	State     string    `json:"state"` // open, overdue
}

// StatusExceptionOverdue is the status of a credential with an exception past its expiry.
const StatusExceptionOverdue = "exception overdue"

// Status values. Blocked statuses carry their reason after a colon.
const (
	StatusOK = "ok"
	// StatusFrozen: due, and a freeze is in force; the freeze's reason is a note.
	StatusFrozen  = "blocked: freeze"
	StatusDue     = "due"
	StatusOverdue = "overdue"
	// StatusExpired: the current value's expiry is past.
	StatusExpired = "expired"
	// StatusExpiring: the expiry is within before_expiry (ExpiringWithin without one).
	StatusExpiring = "expiring"
)

// Entry is one credential's line of the plan.
type Entry struct {
	Credential  string         `json:"credential"`
	Owner       string         `json:"owner"`
	Critical    bool           `json:"critical"`
	LastRotated *time.Time     `json:"last_rotated"` // nil: no history
	Expires     *time.Time     `json:"expires"`      // nil: unknown
	Due         *time.Time     `json:"due"`          // nil: no policy makes it due
	DueReason   string         `json:"due_reason"`
	DueRule     string         `json:"due_rule,omitempty"`       // the rule that set Due: no-history, every, renew_at, before_expiry, expiry, ari
	Jitter      string         `json:"jitter,omitempty"`         // how much earlier than its rule's date Due was moved`
	Renewal     *RenewalWindow `json:"renewal_window,omitempty"` // the issuer's suggested window, when it gives one
	Window      string         `json:"window"`                   // cutover window; "" means any time outside freezes
	Opening     *Interval      `json:"opening"`
	Status      string         `json:"status"`
	Notes       []string       `json:"notes"`
	Run         *Run           `json:"run,omitempty"` // the run in progress
}

// Interval is a planned opening.
type Interval struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// horizon bounds the search for an opening.
const horizon = 2 * 366 * 24 * time.Hour

// Plan computes the plan of every credential at the instant at.
func Plan(inv *inventory.Inventory, history map[string]History, at time.Time) []Entry {
	p := planner{inv: inv, freezes: inv.ScheduleFreezes(), at: at, memo: map[memoKey]memoVal{}}
	out := make([]Entry, 0, len(inv.Credentials))
	for _, c := range inv.Credentials {
		h, known := history[c.ID]
		out = append(out, p.entry(c, h, known))
	}
	return out
}

type memoKey struct {
	window string
	from   int64
}

type memoVal struct {
	op schedule.Opening
	ok bool
}

type planner struct {
	inv     *inventory.Inventory
	freezes []schedule.Freeze
	at      time.Time
	memo    map[memoKey]memoVal // most credentials share a window and a search start
}

// next returns the first usable opening of the window at or after from ("" window: the first
// instant outside freezes, open until the next freeze).
func (p *planner) next(window string, from time.Time) (schedule.Opening, bool) {
	k := memoKey{window, from.UnixNano()}
	if v, ok := p.memo[k]; ok {
		return v.op, v.ok
	}
	var op schedule.Opening
	var ok bool
	if w, found := p.inv.Window(window); found {
		op, ok = schedule.NextOpening(w.Schedule, p.freezes, from, from.Add(horizon))
	} else {
		op, ok = p.anytime(from), true
	}
	p.memo[k] = memoVal{op, ok}
	return op, ok
}

// anytime is the opening of a phase with no window: from the first unfrozen instant until
// the next freeze.
func (p *planner) anytime(from time.Time) schedule.Opening {
	op := schedule.Opening{Start: from}
	for {
		f, frozen := schedule.ActiveFreeze(p.freezes, op.Start)
		if !frozen {
			break
		}
		op.SkippedFor = append(op.SkippedFor, f)
		op.Start = f.To
	}
	for _, f := range p.freezes {
		if f.From.After(op.Start) && (op.End.IsZero() || f.From.Before(op.End)) {
			op.End, op.Trimmed = f.From, true
		}
	}
	return op
}

// For computes the plan entry of one credential, as Plan would.
func For(inv *inventory.Inventory, c *inventory.Credential, h History, known bool, at time.Time) Entry {
	p := planner{inv: inv, freezes: inv.ScheduleFreezes(), at: at, memo: map[memoKey]memoVal{}}
	return p.entry(c, h, known)
}

func (p *planner) entry(c *inventory.Credential, h History, known bool) Entry {
	e := p.schedule(c, h, known)
	if h.Run == nil {
		return e
	}
	e.Run = h.Run
	e.Notes = append(e.Notes, "run "+h.Run.ID+" in progress: "+h.Run.Phase)
	for _, x := range h.Run.Exceptions {
		who := strings.Join(x.Consumers, ", ")
		if x.State == "overdue" || !p.at.Before(x.Expires) {
			e.Status = StatusExceptionOverdue
			e.Notes = append(e.Notes, fmt.Sprintf("exception for %s (owner %s) expired at %s and is still open: run rotor rotate to re-revoke, or fix the consumers",
				who, x.Owner, x.Expires.Format(time.RFC3339)))
			continue
		}
		e.Notes = append(e.Notes, fmt.Sprintf("exception for %s (owner %s) open until %s", who, x.Owner, x.Expires.Format(time.RFC3339)))
	}
	return e
}

// ExpiringWithin is how close to its expiry a credential with no before_expiry is shown as
// expiring.
const ExpiringWithin = 14 * 24 * time.Hour

// Due rules: which rule of the policy set the due date (Entry.DueRule).
const (
	RuleNoHistory    = "no-history"
	RuleEvery        = "every"
	RuleRenewAt      = "renew_at"
	RuleBeforeExpiry = "before_expiry"
	RuleExpiry       = "expiry" // a known expiry and no before_expiry: due at the expiry itself
	// RuleARI: the issuer's suggested renewal window (ACME Renewal Information, RFC 9773)
	// set the date: a fixed point inside it, or now once it has opened.
	RuleARI = "ari"
)

// rule is one rule's due date; span is what a fractional jitter is a share of, base the
// instant the rule counts from (zero: unknown), which the jitter never moves the date near.
type rule struct {
	name, reason string
	at, base     time.Time
	span         time.Duration
}

// schedule is the credential's line from its policy, history, windows and freezes.
func (p *planner) schedule(c *inventory.Credential, h History, known bool) Entry {
	e := Entry{Credential: c.ID, Owner: c.Owner, Critical: c.Critical, Window: c.Windows.Cutover, Notes: []string{}}
	if known && !h.LastRotated.IsZero() {
		e.LastRotated = ptr(h.LastRotated)
	}
	if known && !h.Expires.IsZero() {
		e.Expires = ptr(h.Expires)
	}

	// The due date: the earliest date any rule of the policy allows the value to live to,
	// then moved earlier by the credential's jitter.
	best := p.earliestRule(c, h, known, &e)
	if best.at.IsZero() && known && h.Renewal != nil && e.LastRotated != nil {
		// No rule of its own, yet the issuer advises: its window alone sets the date.
		best = rule{name: RuleARI, at: h.Renewal.End}
	}
	if best.at.IsZero() {
		if known && h.RenewalNote != "" {
			e.Notes = append(e.Notes, h.RenewalNote)
		}
		e.Status = StatusOK
		e.DueReason = "no policy makes it due (no rotate.every, no known expiry)"
		return e
	}
	due := best.at
	e.DueRule, e.DueReason = best.name, best.reason
	if best.name != RuleNoHistory {
		if off := jitter(c.ID, c.Rotate.JitterFor(best.span), best.base, best.at); off > 0 {
			due = due.Add(-off)
			e.Jitter = schedule.FormatDuration(off)
			e.DueReason += ", " + e.Jitter + " earlier by jitter"
		}
		due = p.renewal(c, h, known, due, &e)
	}
	e.Due = ptr(due)

	if e.Expires != nil && !p.at.Before(h.Expires) {
		e.Status = StatusExpired
		e.Notes = append(e.Notes, "expired at "+h.Expires.Format(time.RFC3339)+": rotate at the next opening")
		if op, ok := p.next(c.Windows.Cutover, p.at); ok {
			e.Opening = &Interval{Start: op.Start, End: op.End}
		}
		return e
	}

	target := maxTime(p.at, due)
	op, ok := p.next(c.Windows.Cutover, target)
	for _, f := range op.SkippedFor {
		e.Notes = append(e.Notes, fmt.Sprintf("freeze %q (%s to %s) skips openings", f.Reason, f.From.Format(time.DateOnly), lastDay(f)))
	}
	early := false
	if e.Expires != nil {
		// The cutover must be over, and its soak too, before the current value expires.
		deadline := h.Expires.Add(-c.Soak.Duration)
		if !ok || !p.fits(c.Windows.Cutover, op, deadline) {
			before, found := p.lastFitting(c.Windows.Cutover, deadline)
			if !found {
				e.Status = "blocked: no window before expiry"
				e.Notes = append(e.Notes, fmt.Sprintf("expires %s before any opening of %s%s: add an earlier window to the credential's cutover windows (rotor does not cut over outside them)",
					fmtInstant(h.Expires), windowName(c.Windows.Cutover), soakClause(c)))
				p.expiring(c, h, &e)
				return e
			}
			e.Notes = append(e.Notes, p.earlyNote(c, h, op, ok, before))
			op, ok, early = before, true, true
		}
	}
	if !ok {
		e.Status = "blocked: no window"
		e.Notes = append(e.Notes, fmt.Sprintf("%s does not open within two years", windowName(c.Windows.Cutover)))
		return e
	}
	e.Opening = &Interval{Start: op.Start, End: op.End}

	// Planned early, it is due once its planned opening is the next one.
	if early {
		if first, fok := p.next(c.Windows.Cutover, p.at); fok && first.Start.Equal(op.Start) {
			due = p.at
		}
	}
	switch {
	case p.at.Before(due):
		e.Status = StatusOK
	default:
		if _, frozen := schedule.ActiveFreeze(p.freezes, p.at); frozen {
			e.Status = StatusFrozen // which freeze: the plan's header and the notes say
		} else if first, fok := p.next(c.Windows.Cutover, *e.Due); fok && !first.End.IsZero() && !first.End.After(p.at) && !early {
			// (A zero End is an opening that never closes: no window and no freeze ahead.)
			e.Status = StatusOverdue
			e.Notes = append(e.Notes, "an opening passed since it became due ("+first.Start.Format(time.RFC3339)+") without a rotation")
		} else {
			e.Status = StatusDue
		}
	}
	p.expiring(c, h, &e)
	return e
}

// renewal applies the issuer's suggested renewal window to the due date the policy gives:
// the credential is due at a fixed point inside the window (a share of it from the
// credential's hash, as the jitter, so that many certificates of one CA spread over it as RFC
// 9773 asks), or now once the window has opened — but never later than due, which the
// inventory's own rules set. It returns the due date and fills the entry's rule, reason and
// notes.
func (p *planner) renewal(c *inventory.Credential, h History, known bool, due time.Time, e *Entry) time.Time {
	if !known {
		return due
	}
	if h.RenewalNote != "" {
		e.Notes = append(e.Notes, h.RenewalNote)
	}
	w := h.Renewal
	if w == nil || !w.Start.Before(w.End) {
		return due
	}
	e.Renewal = w
	src := w.Source
	if src == "" {
		src = "the issuer"
	}
	span := fmt.Sprintf("%s to %s", fmtInstant(w.Start), fmtInstant(w.End))
	at, reason := w.Start.Add(time.Duration(unit(c.ID)*float64(w.End.Sub(w.Start))).Truncate(time.Minute)),
		"the CA's renewal window ("+src+") "+span+", at this credential's fixed point in it"
	switch {
	case !p.at.Before(w.End):
		at, reason = p.at, "the CA's renewal window ("+src+") "+span+" has passed: renew now"
	case !p.at.Before(w.Start):
		at, reason = p.at, "the CA's renewal window ("+src+") "+span+" is open: renew now"
	}
	if w.Explanation != "" {
		e.Notes = append(e.Notes, "the CA explains its renewal window at "+w.Explanation)
	}
	if e.DueRule != RuleARI && !at.Before(due) {
		e.Notes = append(e.Notes, fmt.Sprintf("the CA's renewal window (%s) %s: %s is earlier and applies", src, span, e.DueRule))
		return due
	}
	e.DueRule, e.DueReason, e.Jitter = RuleARI, reason, ""
	return at
}

// expiring marks a credential close to its expiry: within before_expiry, or within
// ExpiringWithin when the policy has none. A blocked status is kept (it says why nothing
// can happen); the note says how close the expiry is.
func (p *planner) expiring(c *inventory.Credential, h History, e *Entry) {
	if e.Expires == nil {
		return
	}
	within := ExpiringWithin
	if c.Rotate.BeforeExpiry.Set {
		within = c.Rotate.BeforeExpiry.Duration
	}
	if p.at.Before(h.Expires.Add(-within)) {
		return
	}
	left := h.Expires.Sub(p.at).Truncate(time.Minute)
	e.Notes = append(e.Notes, fmt.Sprintf("expiring: expires %s, in %s", fmtInstant(h.Expires), schedule.FormatDuration(left)))
	switch e.Status {
	case StatusOK, StatusDue, StatusOverdue:
		e.Status = StatusExpiring
	}
}

// fits reports whether a cutover in op is over by deadline: a window's opening must end by
// then (the run may use all of it); with no window, the cutover can start at op.Start.
func (p *planner) fits(window string, op schedule.Opening, deadline time.Time) bool {
	if _, windowed := p.inv.Window(window); windowed {
		return !op.End.After(deadline)
	}
	return !op.Start.After(deadline)
}

// lastFitting returns the latest opening, from now on, that fits before deadline.
func (p *planner) lastFitting(window string, deadline time.Time) (schedule.Opening, bool) {
	var last schedule.Opening
	found := false
	from := p.at
	for range 10000 { // bounded: at most one opening per step
		op, ok := p.next(window, from)
		if !ok || op.Start.After(deadline) {
			break
		}
		if p.fits(window, op, deadline) {
			last, found = op, true
		}
		if !op.End.After(from) {
			break // an opening that never closes: nothing comes after it
		}
		from = op.End
	}
	return last, found
}

// earlyNote says why the rotation is planned before its due date: a freeze that covers the
// time from the due date to the expiry, or simply no opening in between.
func (p *planner) earlyNote(c *inventory.Credential, h History, next schedule.Opening, ok bool, planned schedule.Opening) string {
	in := "in the window of " + fmtDay(planned.Start) + " instead"
	if _, windowed := p.inv.Window(c.Windows.Cutover); !windowed {
		in = "from " + fmtInstant(planned.Start) + " instead"
	}
	for _, f := range next.SkippedFor {
		if f.From.Before(h.Expires) {
			return fmt.Sprintf("planned early: freeze %q (%s to %s) covers the time from the due date to the expiry at %s: rotate before the freeze, %s",
				f.Reason, f.From.Format(time.DateOnly), lastDay(f), fmtInstant(h.Expires), in)
		}
	}
	what := "the next cutover window"
	if ok {
		what += " (" + fmtInstant(next.Start) + ")"
	} else {
		what = "any opening of " + windowName(c.Windows.Cutover) + " within two years"
	}
	if ok && next.Start.Before(h.Expires) {
		return fmt.Sprintf("planned early: expires %s, before the next cutover window (%s) ends with time to cut over%s: due %s",
			fmtInstant(h.Expires), fmtInstant(next.Start), soakClause(c), in)
	}
	return fmt.Sprintf("planned early: expires %s, before %s: due %s", fmtInstant(h.Expires), what, in)
}

func soakClause(c *inventory.Credential) string {
	if c.Soak.Duration > 0 {
		return " and soak " + c.Soak.String()
	}
	return ""
}

// jitter is how far earlier than at the credential's due date moves: a fixed share of max
// (from a hash of the credential id, so the plan is the same on every run and machine),
// whole minutes, and never more than half the time from base to at, so a large jitter cannot
// make a value due as soon as it is issued. It only ever moves the date earlier: no rule's
// limit (expiry − before_expiry above all) is passed.
func jitter(id string, max time.Duration, base, at time.Time) time.Duration {
	if max <= 0 {
		return 0
	}
	if !base.IsZero() && at.After(base) {
		max = min(max, at.Sub(base)/2)
	}
	return time.Duration(unit(id) * float64(max)).Truncate(time.Minute)
}

// unit is the credential's fixed share in [0, 1), from a hash of its id: the same on every
// run and machine.
func unit(id string) float64 {
	// SHA-256, not FNV: ids that differ in one last character (c01, c02) must land far apart.
	sum := sha256.Sum256([]byte("rotor jitter\x00" + id))
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53) // uniform in [0, 1)
}

func lastDay(f schedule.Freeze) string { return f.To.Add(-time.Nanosecond).Format(time.DateOnly) }

// fmtInstant is an instant as notes show it: in its own zone, to the minute.
func fmtInstant(t time.Time) string {
	if t.Location() == time.UTC {
		return t.Format("2006-01-02T15:04Z")
	}
	return t.Format("2006-01-02 15:04 MST")
}

func fmtDay(t time.Time) string { return t.Format(time.DateOnly) }

func windowName(w string) string {
	if w == "" {
		return "the cutover (any time outside freezes)"
	}
	return "window " + w
}

func ptr(t time.Time) *time.Time { return &t }

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// earliestRule is the rule of c's policy that gives the earliest due date from h (no history:
// due now), noting on e the rules that cannot apply and why.
func (p *planner) earliestRule(c *inventory.Credential, h History, known bool, e *Entry) rule {
	var best rule
	consider := func(r rule) {
		if best.at.IsZero() || r.at.Before(best.at) {
			best = r
		}
	}
	if e.LastRotated == nil && e.Expires == nil {
		best = rule{name: RuleNoHistory, at: p.at, reason: "no rotation recorded: rotor has no history of this credential yet"}
	} else {
		start := h.LastRotated // the lifetime's start: the version's creation when known
		if known && !h.Issued.IsZero() {
			start = h.Issued
		}
		var life time.Duration
		if e.Expires != nil && !start.IsZero() && start.Before(h.Expires) {
			life = h.Expires.Sub(start)
		}
		if e.LastRotated != nil && c.Rotate.Every.Set {
			consider(rule{name: RuleEvery, at: h.LastRotated.Add(c.Rotate.Every.Duration), base: h.LastRotated, span: c.Rotate.Every.Duration,
				reason: "rotate.every " + c.Rotate.Every.String() + " after the last rotation"})
		}
		if c.Rotate.RenewAt.Set {
			switch {
			case e.Expires == nil:
				e.Notes = append(e.Notes, "rotate.renew_at "+c.Rotate.RenewAt.String()+" does not apply: the expiry of the current value is unknown")
			case life == 0:
				e.Notes = append(e.Notes, "rotate.renew_at "+c.Rotate.RenewAt.String()+" does not apply: the start of the current value's lifetime is unknown (no creation or rotation recorded)")
			default:
				at := start.Add(time.Duration(c.Rotate.RenewAt.Value * float64(life)))
				consider(rule{name: RuleRenewAt, at: at, base: start, span: life,
					reason: fmt.Sprintf("rotate.renew_at %s of the lifetime (%s to %s)", c.Rotate.RenewAt, start.Format(time.RFC3339), h.Expires.Format(time.RFC3339))})
			}
		}
		if e.Expires != nil {
			before := c.Rotate.BeforeExpiry.Duration
			r := rule{name: RuleExpiry, at: h.Expires.Add(-before), base: start, span: life, reason: "expires " + h.Expires.Format(time.RFC3339)}
			if before > 0 {
				r.name, r.reason = RuleBeforeExpiry, "rotate.before_expiry "+c.Rotate.BeforeExpiry.String()+" before it "+r.reason
			}
			consider(r)
		}
	}
	return best
}
