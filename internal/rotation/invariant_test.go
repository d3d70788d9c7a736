package rotation

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/schedule"
)

// The rule that never bends: zero revocations with a failing or unknown gate. Many random
// runs — random specs, every step's outcome drawn among pass/fail/unknown/retryable/terminal,
// random time, random sign-offs, decisions and rollbacks by random people, the initiator
// included — and whenever Next decides to revoke, the evidence is re-derived independently of
// the flags Next reads and must be complete and positive.

const fuzzRuns = 400

type fuzzStats struct {
	revoked, finished, rollbacks, secondRollbacks, closedThenRevoked, halts, overdue int
}

func TestZeroRevocationsWithoutPositiveEvidence(t *testing.T) {
	var st fuzzStats
	for seed := uint64(1); seed <= fuzzRuns; seed++ {
		fuzzRun(t, seed, &st)
		if t.Failed() {
			t.Fatalf("seed %d failed (rerun with only that seed to investigate)", seed)
		}
	}
	t.Logf("%d runs: %d revoked, %d finished, %d rollbacks (%d after a first exception closed), %d revoked after a closed exception, %d halts, %d overdue exceptions",
		fuzzRuns, st.revoked, st.finished, st.rollbacks, st.secondRollbacks, st.closedThenRevoked, st.halts, st.overdue)
	// The property is only worth something if the runs get there, through the hard paths.
	if st.finished < fuzzRuns*9/10 || st.revoked < fuzzRuns/4 || st.secondRollbacks < 10 || st.rollbacks < 10 || st.closedThenRevoked < 3 || st.halts < 20 || st.overdue < 5 {
		t.Errorf("the random runs do not cover enough: %+v", st)
	}
}

type fuzzer struct {
	rng *rand.Rand
	h   *harness
}

func (f *fuzzer) pick(n int) int { return f.rng.IntN(n) }
func (f *fuzzer) chance(p float64) bool {
	return f.rng.Float64() < p
}
func (f *fuzzer) person() string {
	return []string{initiator, "bob", "carol", "mallory"}[f.pick(4)]
}
func (f *fuzzer) duration(max time.Duration) time.Duration {
	return time.Duration(f.rng.Int64N(int64(max))) + time.Second
}

func randomSpec(t *testing.T, f *fuzzer) Spec {
	b := newSpec()
	if f.chance(0.3) {
		b.inPlace()
	}
	if f.chance(0.5) {
		b.critical()
	}
	b.soak([]time.Duration{0, 30 * time.Minute, 6 * time.Hour}[f.pick(3)])
	if f.chance(0.5) {
		b.signals("auth-errors")
	}
	if f.chance(0.5) {
		b.usage()
	}
	if f.chance(0.2) {
		b.window(StageCutover, weeknights(t))
	}
	if f.chance(0.2) {
		b.window(StageRevoke, officeHours(t))
	}
	if f.chance(0.15) {
		day := t0.AddDate(0, 0, f.pick(4))
		b.freeze(schedule.Freeze{From: day, To: day.Add(f.duration(48 * time.Hour)), Reason: "random freeze"})
	}
	kinds := []func(*ConsumerSpec){
		func(c *ConsumerSpec) { reload(c); checks("h")(c) },
		func(c *ConsumerSpec) { reload(c) },
		func(c *ConsumerSpec) { checks("h")(c) },
		func(c *ConsumerSpec) { delayedAt(f.duration(3 * time.Hour))(c); checks("h")(c) },
		func(c *ConsumerSpec) { delayedAt(f.duration(3 * time.Hour))(c) },
		func(c *ConsumerSpec) { nextRunAt02(c); checks("h")(c) },
		func(c *ConsumerSpec) { onDemand(c); checks("h")(c) },
		func(c *ConsumerSpec) { onDemand(c) },
	}
	for i := range 1 + f.pick(4) {
		opts := []func(*ConsumerSpec){kinds[f.pick(len(kinds))]}
		if f.chance(0.3) {
			opts = append(opts, accepts)
		}
		b.consumer(fmt.Sprintf("c%d", i), opts...)
	}
	return b.build()
}

// outcome draws a step's outcome.
func (f *fuzzer) outcome(a Action) Outcome {
	h := f.h
	if !isVerdictStep(a.Step) {
		switch n := f.pick(20); {
		case n == 0:
			return Outcome{Err: terminal("boom")}
		case n == 1:
			return Outcome{Err: denied("no")}
		case n < 5:
			return Outcome{Err: retryable("timeout")}
		}
		return h.pass(a)
	}
	switch n := f.pick(20); {
	case n < 3:
		return Outcome{Verdict: provider.Fail, Detail: "fail"}
	case n < 6:
		return Outcome{Verdict: provider.Unknown, Detail: "no data"}
	case n < 8:
		return Outcome{Err: retryable("timeout")}
	case n == 8:
		return Outcome{Err: terminal("bad query")}
	}
	return h.pass(a)
}

// meddle is what people do between two steps, at random.
func (f *fuzzer) meddle(st *fuzzStats) {
	h := f.h
	switch f.pick(24) {
	case 0, 1:
		c := h.s.Consumers[f.pick(len(h.s.Consumers))].ID
		if f.chance(0.1) {
			c = "ghost"
		}
		reason := "owner accepts"
		if f.chance(0.2) {
			reason = " "
		}
		_ = SignOff(h.r, Signoff{Consumer: c, By: f.person(), At: h.now, Reason: reason})
	case 2, 3:
		var approvers []string
		if f.chance(0.5) {
			approvers = []string{initiator, "bob", "carol"}
		}
		_ = Decide(h.r, Decision{By: f.person(), At: h.now, Approve: f.chance(0.7), Reason: "random"}, approvers)
	case 4:
		known := h.known()
		var cs []string
		for _, c := range known {
			if f.chance(0.5) {
				cs = append(cs, c)
			}
		}
		if f.chance(0.05) {
			cs = append(cs, "ghost")
		}
		owner := "bob"
		if f.chance(0.1) {
			owner = ""
		}
		ex := Exception{Consumers: cs, Owner: owner, Reason: "random", OpenedBy: f.person(), Expires: h.now.Add(f.duration(6*time.Hour) - 10*time.Minute)}
		if BeginRollback(h.r, ex, known, h.now) == nil {
			st.rollbacks++
			if len(h.r.Exceptions) > 1 {
				st.secondRollbacks++
			}
		}
	case 5:
		h.at(h.now.Add(f.duration(12 * time.Hour)))
	}
}

func fuzzRun(t *testing.T, seed uint64, st *fuzzStats) {
	f := &fuzzer{rng: rand.New(rand.NewPCG(seed, 0x5eed))}
	s := randomSpec(t, f)
	f.h = newHarness(t, s, t0)
	h := f.h
	h.first = f.chance(0.1)
	hadClosed := false
	same, last := 0, ""
	for range 600 {
		f.meddle(st)
		a := h.next()
		if d := describe(a); a.Kind == DoStep && d == last {
			if same++; same > 50 {
				t.Fatalf("seed %d: Next asks for %s over and over", seed, d)
			}
		} else {
			same, last = 0, d
		}
		switch a.Kind {
		case Finished:
			st.finished++
			if h.r.Previous != nil && !h.r.done(StepRevoke, "") {
				t.Errorf("seed %d: finished without revoking the previous version", seed)
			}
			return
		case DoStep:
			if a.Step == StepRevoke && !h.r.started(StepRevoke) {
				checkRevokeEvidence(t, seed, h)
				st.revoked++
				if hadClosed {
					st.closedThenRevoked++
				}
			}
			if a.Step == StepPromote && !h.r.started(StepPromote) && !h.r.prepared(h.s) {
				t.Errorf("seed %d: promote before prepare passed", seed)
			}
			Begin(h.r, a, h.now)
			h.advance(h.stepTime)
			switch a.Step {
			case StepRollback:
				var err error
				if f.chance(0.2) {
					err = retryable("store timeout")
				}
				FinishRollback(h.r, h.r.OpenException().Consumers, "rolled back", err, h.now)
			case StepExceptionExpiry:
				switch n := f.pick(10); {
				case n < 4:
					FinishExceptionOverdue(h.r, "still failing", h.now)
					st.overdue++
				case n == 4:
					Finish(h.r, a.Step, "", Outcome{Err: retryable("timeout")}, h.s, h.now)
				default:
					Finish(h.r, a.Step, "", h.pass(a), h.s, h.now)
					hadClosed = true
				}
			default:
				Finish(h.r, a.Step, a.Consumer, f.outcome(a), h.s, h.now)
			}
			// Every Begin is closed by its outcome: nothing is left in intent to be redone
			// (only a crash may leave one).
			for _, x := range h.r.Steps {
				if x.Status == Intent {
					t.Fatalf("seed %d: after the outcome of %s, %s is still in intent", seed, describe(a), x.Name())
				}
			}
			if h.r.Halt != nil {
				st.halts++
			}
		case Wait:
			if a.Gate.Verdict == provider.Pass {
				t.Errorf("seed %d: waiting at a passing gate %+v", seed, a.Gate)
			}
			if a.Gate.Gate == "exception" && h.r.Step(StepRollback, "").Status != OK {
				t.Errorf("seed %d: waiting on an exception whose rollback is %s", seed, h.r.Step(StepRollback, "").Status)
			}
			if u := a.Gate.Until; !u.IsZero() && u.After(h.now) && f.chance(0.7) {
				h.at(u)
			} else {
				h.at(h.now.Add(f.duration(6 * time.Hour)))
			}
		case Stopped:
			if h.r.Halt == nil {
				t.Fatalf("seed %d: stopped without a halt: %+v", seed, a.Gate)
			}
			h.at(h.now.Add(f.duration(time.Hour)))
			Resume(h.r, h.now)
		default:
			t.Fatalf("seed %d: unexpected %s", seed, describe(a))
		}
	}
}

// checkRevokeEvidence re-derives, from the records rather than from the flags Next reads,
// that revoking now is backed by complete, positive evidence.
func checkRevokeEvidence(t *testing.T, seed uint64, h *harness) {
	t.Helper()
	r, s, now := h.r, h.s, h.now
	fail := func(format string, args ...any) {
		t.Errorf("seed %d: revoke at %s with %s", seed, now.Format(time.RFC3339), fmt.Sprintf(format, args...))
	}
	passed := func(k StepKind, consumer string) bool {
		st := r.step(k, consumer)
		return st != nil && st.Status == OK && st.Verdict == provider.Pass
	}
	if r.Previous == nil {
		fail("no previous version")
	}
	if r.Halt != nil || r.Phase == Halted {
		fail("the run halted")
	}
	if ex := r.OpenException(); ex != nil {
		fail("an exception %s", ex.State)
	}
	if r.CutoverAt.IsZero() || now.Before(r.CutoverAt.Add(s.Soak)) {
		fail("the soak not over (cutover %s, soak %s)", r.CutoverAt, s.Soak)
	}
	for _, k := range []StepKind{StepReadiness, StepReadAccess} {
		if !passed(k, "") {
			fail("%s not passed", k)
		}
	}
	if len(s.Signals) > 0 {
		st := r.step(StepSignals, "")
		if !passed(StepSignals, "") || st.FinishedAt.Before(r.CutoverAt.Add(s.Soak)) {
			fail("signals not passed after the soak: %+v", st)
		}
	}
	if len(s.Usage) > 0 && !passed(StepResidualUse, "") {
		fail("residual use not passed")
	}
	for _, c := range s.Consumers {
		cs := r.Consumer(c.ID)
		if cs == nil || !cs.Proven {
			fail("consumer %s not proven", c.ID)
			continue
		}
		if cs.PinnedTo != "" {
			fail("consumer %s pinned to %s", c.ID, cs.PinnedTo)
		}
		if !c.Delayed && len(c.Checks) > 0 && !passed(StepCheck, c.ID) {
			fail("consumer %s's check not passed", c.ID)
		}
		switch by := cs.ProvenBy; {
		case strings.HasPrefix(by, "signoff by "):
			signed := slices.ContainsFunc(r.Signoffs, func(so Signoff) bool {
				return so.Consumer == c.ID && strings.TrimSpace(so.Reason) != "" && strings.HasPrefix(by, "signoff by "+so.By+":")
			})
			if !signed {
				fail("consumer %s proven by a sign-off that is not recorded: %q", c.ID, by)
			}
		case strings.HasPrefix(by, "check at exception expiry"):
			closed := slices.ContainsFunc(r.Exceptions, func(ex Exception) bool {
				return ex.State == "closed" && slices.Contains(ex.Consumers, c.ID)
			})
			if !closed || r.Step(StepExceptionExpiry, "").Status != OK {
				fail("consumer %s proven at an exception expiry that did not pass", c.ID)
			}
		case strings.HasPrefix(by, "check "):
			if !passed(StepCheck, c.ID) && !passed(StepProof, c.ID) {
				fail("consumer %s proven by a check that did not pass", c.ID)
			}
		default:
			fail("consumer %s proven by %q", c.ID, by)
		}
	}
	if s.Critical {
		lastReject := -1
		for i, d := range r.Approvals {
			if !d.Approve {
				lastReject = i
			}
		}
		valid := slices.ContainsFunc(r.Approvals[lastReject+1:], func(d Decision) bool { return d.Approve && d.By != r.StartedBy })
		if !valid {
			fail("no valid approval after the last rejection: %+v", r.Approvals)
		}
	}
	if _, frozen := schedule.ActiveFreeze(s.Freezes, now); frozen {
		fail("a freeze in force")
	}
	if w := s.Windows[StageRevoke]; w != nil {
		if _, open := w.OpenAt(now); !open {
			fail("the revoke window %s closed", w.Name)
		}
	}
}
