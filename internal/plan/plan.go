// Package plan computes what is due: for every credential its last rotation, its expiry, the
// next due date from its policy, the opening of its cutover window that the rotation will use
// once freezes are applied, and a status. It changes nothing, and it invents no dates: a
// credential with no recorded history is reported as such.
//
// The package is pure: inventory, history and the instant in, entries out.
package plan

import (
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
	Version     string
	Run         *Run // the run in progress, if any
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
	StatusOK      = "ok"
	StatusDue     = "due"
	StatusOverdue = "overdue"
)

// Entry is one credential's line of the plan.
type Entry struct {
	Credential  string     `json:"credential"`
	Owner       string     `json:"owner"`
	Critical    bool       `json:"critical"`
	LastRotated *time.Time `json:"last_rotated"` // nil: no history
	Expires     *time.Time `json:"expires"`      // nil: unknown
	Due         *time.Time `json:"due"`          // nil: no policy makes it due
	DueReason   string     `json:"due_reason"`
	Window      string     `json:"window"` // cutover window; "" means any time outside freezes
	Opening     *Interval  `json:"opening"`
	Status      string     `json:"status"`
	Notes       []string   `json:"notes"`
	Run         *Run       `json:"run,omitempty"` // the run in progress
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

// schedule is the credential's line from its policy, history, windows and freezes.
func (p *planner) schedule(c *inventory.Credential, h History, known bool) Entry {
	e := Entry{Credential: c.ID, Owner: c.Owner, Critical: c.Critical, Window: c.Windows.Cutover, Notes: []string{}}
	if known && !h.LastRotated.IsZero() {
		e.LastRotated = ptr(h.LastRotated)
	}
	if known && !h.Expires.IsZero() {
		e.Expires = ptr(h.Expires)
	}

	// The due date: the earliest that the policy allows the value to live.
	var due time.Time
	switch {
	case e.LastRotated == nil && e.Expires == nil:
		due = p.at
		e.DueReason = "no rotation recorded: rotor has no history of this credential yet"
	default:
		if e.LastRotated != nil && c.Rotate.Every.Set {
			due, e.DueReason = h.LastRotated.Add(c.Rotate.Every.Duration), "rotate.every "+c.Rotate.Every.String()+" after the last rotation"
		}
		if e.Expires != nil {
			before := c.Rotate.BeforeExpiry.Duration
			if d := h.Expires.Add(-before); due.IsZero() || d.Before(due) {
				due = d
				e.DueReason = "expires " + h.Expires.Format(time.RFC3339)
				if before > 0 {
					e.DueReason = c.Rotate.BeforeExpiry.String() + " before it " + e.DueReason
				}
			}
		}
	}
	if due.IsZero() {
		e.Status = StatusOK
		e.DueReason = "no policy makes it due (no rotate.every, no known expiry)"
		return e
	}
	e.Due = ptr(due)

	if e.Expires != nil && !p.at.Before(h.Expires) {
		e.Status = StatusOverdue
		e.Notes = append(e.Notes, "expired at "+h.Expires.Format(time.RFC3339)+": rotate at the next opening")
		if op, ok := p.next(c.Windows.Cutover, p.at); ok {
			e.Opening = &Interval{Start: op.Start, End: op.End}
		}
		return e
	}

	target := maxTime(p.at, due)
	op, ok := p.next(c.Windows.Cutover, target)
	for _, f := range op.SkippedFor {
		e.Notes = append(e.Notes, fmt.Sprintf("freeze %q (%s to %s) skips openings", f.Reason, f.From.Format(time.DateOnly), f.To.Add(-time.Nanosecond).Format(time.DateOnly)))
	}
	early := false
	if e.Expires != nil && (!ok || !op.Start.Before(h.Expires)) {
		// The first opening after the due date comes too late: take the last one before expiry.
		before, found := p.lastBefore(c.Windows.Cutover, minTime(due, h.Expires), h.Expires)
		if !found {
			e.Status = "blocked: no window before expiry"
			e.Notes = append(e.Notes, fmt.Sprintf("no opening of %s before the expiry at %s", windowName(c.Windows.Cutover), h.Expires.Format(time.RFC3339)))
			return e
		}
		e.Notes = append(e.Notes, fmt.Sprintf("planned early: the first opening after the due date (%s) is not before the expiry (%s)",
			fmtOpening(op, ok), h.Expires.Format(time.RFC3339)))
		op, ok, early = before, true, true
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
		if f, frozen := schedule.ActiveFreeze(p.freezes, p.at); frozen {
			e.Status = "blocked: freeze " + f.Reason
		} else if first, fok := p.next(c.Windows.Cutover, *e.Due); fok && !first.End.IsZero() && !first.End.After(p.at) && !early {
			// (A zero End is an opening that never closes: no window and no freeze ahead.)
			e.Status = StatusOverdue
			e.Notes = append(e.Notes, "an opening passed since it became due ("+first.Start.Format(time.RFC3339)+") without a rotation")
		} else {
			e.Status = StatusDue
		}
	}
	return e
}

// lastBefore returns the last opening that starts at or after now and before both limit
// (ideally before the due date) and the expiry. It prefers the latest opening before
// preferBefore; failing that, the latest before expiry.
func (p *planner) lastBefore(window string, preferBefore, expiry time.Time) (schedule.Opening, bool) {
	var last schedule.Opening
	found := false
	from := p.at
	for range 10000 { // bounded: at most one opening per step
		op, ok := p.next(window, from)
		if !ok || !op.Start.Before(expiry) {
			break
		}
		if found && !op.Start.Before(preferBefore) {
			break
		}
		last, found = op, true
		if !op.End.After(from) {
			break
		}
		from = op.End
	}
	return last, found
}

func windowName(w string) string {
	if w == "" {
		return "the cutover (any time outside freezes)"
	}
	return "window " + w
}

func fmtOpening(op schedule.Opening, ok bool) string {
	if !ok {
		return "none"
	}
	return op.Start.Format(time.RFC3339)
}

func ptr(t time.Time) *time.Time { return &t }

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
