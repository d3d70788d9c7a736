package rotation

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/schedule"
)

// The tests drive whole runs through Next, Begin and Finish the way the engine will: ask
// Next, record the intent, "perform" the effect (nothing: rotation does no I/O), record the
// outcome. Time is a plain value moved by hand; an invocation of `rotor rotate` is the
// instant Options.Since is set to.

var paris = mustLoc("Europe/Paris")

func mustLoc(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// inParis is a wall-clock instant in Paris: inParis("2026-03-10 22:00").
func inParis(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, paris)
	if err != nil {
		panic(err)
	}
	return t
}

// t0 is a Tuesday afternoon in Paris, outside the weeknights window.
var t0 = inParis("2026-03-10 15:00")

func weeknights(t *testing.T) *schedule.Window {
	t.Helper()
	w, err := schedule.NewWindow("weeknights", "0 22 * * 1-4", 4*time.Hour, "Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	return &w
}

func officeHours(t *testing.T) *schedule.Window {
	t.Helper()
	w, err := schedule.NewWindow("office-hours", "0 9 * * 1-5", 8*time.Hour, "Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	return &w
}

func freeze(t *testing.T, from, to, reason string) schedule.Freeze {
	t.Helper()
	f, err := schedule.FreezeDates(mustDate(t, from), mustDate(t, to), paris, reason)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustDate(t *testing.T, s string) schedule.Date {
	t.Helper()
	d, err := schedule.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// --- the Spec builder ---------------------------------------------------------------------

type specB struct{ s Spec }

func newSpec() *specB {
	return &specB{Spec{Strategy: "overlap", Windows: map[Stage]*schedule.Window{}}}
}

func (b *specB) inPlace() *specB                { b.s.Strategy = "in-place"; return b }
func (b *specB) critical() *specB               { b.s.Critical, b.s.Approvers = true, approvers; return b }
func (b *specB) soak(d time.Duration) *specB    { b.s.Soak = d; return b }
func (b *specB) signals(names ...string) *specB { b.s.Signals = names; return b }
func (b *specB) usage() *specB                  { b.s.Usage = []string{UsageAuthority}; return b }
func (b *specB) window(st Stage, w *schedule.Window) *specB {
	b.s.Windows[st] = w
	return b
}
func (b *specB) freeze(f schedule.Freeze) *specB { b.s.Freezes = append(b.s.Freezes, f); return b }
func (b *specB) consumer(id string, opts ...func(*ConsumerSpec)) *specB {
	c := ConsumerSpec{ID: id, HasIdentity: true}
	for _, o := range opts {
		o(&c)
	}
	b.s.Consumers = append(b.s.Consumers, c)
	return b
}
func (b *specB) build() Spec { return b.s }

func reload(c *ConsumerSpec)  { c.HasReload = true }
func accepts(c *ConsumerSpec) { c.Accepts = true }
func checks(names ...string) func(*ConsumerSpec) {
	return func(c *ConsumerSpec) { c.Checks = names }
}

// delayedAt makes a delayed consumer whose proof comes d after cutover.
func delayedAt(d time.Duration) func(*ConsumerSpec) {
	return func(c *ConsumerSpec) {
		c.Delayed = true
		c.ProofAt = func(cut time.Time) (time.Time, bool) { return cut.Add(d), true }
	}
}

// nextRunAt02 makes a delayed job that runs every night at 02:00 in Paris.
func nextRunAt02(c *ConsumerSpec) {
	c.Delayed = true
	c.ProofAt = func(cut time.Time) (time.Time, bool) {
		l := cut.In(paris)
		next := time.Date(l.Year(), l.Month(), l.Day(), 2, 0, 0, 0, paris)
		if !next.After(cut) {
			next = next.AddDate(0, 0, 1)
		}
		return next, true
	}
}

// onDemand makes a delayed consumer with no known proof time (a pipeline run by hand).
func onDemand(c *ConsumerSpec) {
	c.Delayed = true
	c.ProofAt = func(time.Time) (time.Time, bool) { return time.Time{}, false }
}

// --- the harness --------------------------------------------------------------------------

const initiator = "alice"

type harness struct {
	t       *testing.T
	r       *Run
	s       Spec
	now     time.Time
	since   time.Time
	through Stage
	first   bool // the mint reports no previous version
	// stepTime is how long each step's effect takes.
	stepTime time.Duration
}

func newHarness(t *testing.T, s Spec, at time.Time) *harness {
	t.Helper()
	return &harness{
		t: t, s: s, now: at, since: at, stepTime: time.Second,
		r: &Run{ID: "run-1", Credential: "orders-db", Strategy: s.Strategy, Critical: s.Critical,
			Phase: Planned, StartedBy: initiator, StartedAt: at, UpdatedAt: at},
	}
}

func (h *harness) opts() Options { return Options{Through: h.through, Since: h.since} }

func (h *harness) next() Action { return Next(h.r, h.s, h.now, h.opts()) }

// invoke starts a new invocation of rotor rotate at now.
func (h *harness) invoke() { h.since = h.now }

// at moves the clock to t and starts a new invocation there.
func (h *harness) at(t time.Time) {
	if t.Before(h.now) {
		h.t.Fatalf("clock would go back from %s to %s", h.now, t)
	}
	h.now = t
	h.invoke()
}

func (h *harness) advance(d time.Duration) { h.now = h.now.Add(d) }

// pass is the outcome of a step that worked (and, for mint, the versions).
func (h *harness) pass(a Action) Outcome {
	out := Outcome{Detail: "ok"}
	if a.Step == StepMint {
		out.New = &provider.Version{ID: "v2", Fingerprint: "fp-v2"}
		if !h.first {
			out.Previous = &provider.Version{ID: "v1", Fingerprint: "fp-v1"}
		}
	}
	if isVerdictStep(a.Step) {
		out.Verdict = provider.Pass
	}
	return out
}

func isVerdictStep(k StepKind) bool {
	switch k {
	case StepReadiness, StepReadAccess, StepCheck, StepSignals, StepProof, StepResidualUse, StepExceptionExpiry:
		return true
	}
	return false
}

// perform begins the step Next asked for, lets stepTime pass and finishes it with out.
func (h *harness) perform(a Action, out Outcome) {
	h.t.Helper()
	if a.Kind != DoStep {
		h.t.Fatalf("perform: not a step: %s", describe(a))
	}
	st := Begin(h.r, a, h.now)
	if st.Status != Intent {
		h.t.Fatalf("Begin recorded %s as %q, want intent", st.Name(), st.Status)
	}
	h.advance(h.stepTime)
	Finish(h.r, a.Step, a.Consumer, out, h.s, h.now)
}

// expect asserts that Next asks for want (see describe) and returns the action.
func (h *harness) expect(want string) Action {
	h.t.Helper()
	a := h.next()
	if got := describe(a); got != want {
		h.t.Fatalf("at %s: Next = %s, want %s", h.now.Format(time.RFC3339), got, want)
	}
	return a
}

// do asserts that Next asks for the step want and performs it with a passing outcome.
func (h *harness) do(want string) {
	h.t.Helper()
	a := h.expect(want)
	h.perform(a, h.pass(a))
}

// doWith asserts that Next asks for the step want and performs it with out.
func (h *harness) doWith(want string, out Outcome) {
	h.t.Helper()
	a := h.expect(want)
	h.perform(a, out)
}

// drive performs every step Next asks for with a passing outcome until Next answers
// something else, and returns the descriptions of all the answers, the last one included.
func (h *harness) drive() []string {
	h.t.Helper()
	return h.driveWith(h.pass)
}

func (h *harness) driveWith(outcome func(Action) Outcome) []string {
	h.t.Helper()
	var seen []string
	for range 200 {
		a := h.next()
		seen = append(seen, describe(a))
		if a.Kind != DoStep {
			return seen
		}
		h.perform(a, outcome(a))
	}
	h.t.Fatalf("Next asked for steps 200 times in a row, a loop: %s", strings.Join(seen[len(seen)-10:], " | "))
	return nil
}

// driveUntil performs passing steps until Next asks for step name (without performing it).
func (h *harness) driveUntil(want string) Action {
	h.t.Helper()
	for range 200 {
		a := h.next()
		if describe(a) == want {
			return a
		}
		if a.Kind != DoStep {
			h.t.Fatalf("before %s, Next = %s", want, describe(a))
		}
		h.perform(a, h.pass(a))
	}
	h.t.Fatalf("never reached %s", want)
	return Action{}
}

// describe renders an action for tables:
//
//	do NAME @PHASE, wait GATE/VERDICT [until RFC3339], pause @PHASE, finished, stopped GATE.
//
// A wait's phase is asserted separately (wantWait) where it is defined.
func describe(a Action) string {
	switch a.Kind {
	case DoStep:
		return fmt.Sprintf("do %s @%s", StepName(a.Step, a.Consumer), a.Phase)
	case Wait:
		s := fmt.Sprintf("wait %s/%s", a.Gate.Gate, a.Gate.Verdict)
		if !a.Gate.Until.IsZero() {
			s += " until " + a.Gate.Until.In(paris).Format(time.RFC3339)
		}
		return s
	case Pause:
		return "pause @" + string(a.Phase)
	case Finished:
		return "finished"
	case Stopped:
		return "stopped " + a.Gate.Gate
	}
	return fmt.Sprintf("action(%d)", a.Kind)
}

func until(t time.Time) string { return " until " + t.In(paris).Format(time.RFC3339) }

// wantWait checks a wait's gate and phase, and that its message says something.
func wantWait(t *testing.T, a Action, gate string, verdict provider.Verdict, phase Phase) {
	t.Helper()
	if a.Kind != Wait || a.Gate.Gate != gate || a.Gate.Verdict != verdict || a.Phase != phase {
		t.Fatalf("got %s @%q, want wait %s/%s @%s", describe(a), a.Phase, gate, verdict, phase)
	}
	if a.Gate.Message == "" {
		t.Errorf("wait %s has no message", gate)
	}
}

func wantSeq(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("sequence:\n  got  %s\n  want %s", strings.Join(got, "\n       "), strings.Join(want, "\n       "))
	}
}

func signoff(t *testing.T, r *Run, consumer, by string, at time.Time) {
	t.Helper()
	if err := SignOff(r, Signoff{Consumer: consumer, By: by, At: at, Reason: "owner accepts"}); err != nil {
		t.Fatalf("SignOff %s: %v", consumer, err)
	}
}

func retryable(msg string) error { return provider.Errorf(provider.Retryable, "call", "%s", msg) }
func terminal(msg string) error  { return provider.Errorf(provider.Terminal, "call", "%s", msg) }
func denied(msg string) error    { return provider.Errorf(provider.Denied, "call", "%s", msg) }

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}
