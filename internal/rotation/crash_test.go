package rotation

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// Crash resume: a step found in intent (Begin without Finish: the process died during its
// effect) is the very next action, whatever else is pending; its effect is idempotent, so it
// is simply performed again, and nothing is skipped.

// crashSpec exercises every kind of step: critical, signals and soak, residual use, an
// accepting consumer, one without a check, a delayed job and an on-demand pipeline.
func crashSpec() Spec {
	return newSpec().critical().signals("auth-errors").soak(time.Hour).usage().
		consumer("api", reload, checks("api-health"), accepts).
		consumer("worker", reload).
		consumer("job", delayedAt(2*time.Hour), checks("job-ok")).
		consumer("deploy", onDemand).build()
}

// scriptRun drives a crashSpec run to the end, the people doing their part when asked
// (sign-offs, an approval), and crashes during the effect of step number crashAt (-1: never).
// It returns the steps performed, in order, with the attempt of each.
func scriptRun(t *testing.T, crashAt int) (*harness, []string) {
	t.Helper()
	h := newHarness(t, crashSpec(), t0)
	var seen []string
	i := 0
	for range 500 {
		a := h.next()
		switch a.Kind {
		case Finished:
			return h, seen
		case DoStep:
			d := describe(a)
			if i == crashAt {
				Begin(h.r, a, h.now) // the intent is durable; the process dies in the effect
				h.at(h.now.Add(time.Second))
				if got := h.next(); describe(got) != d {
					t.Fatalf("crash during %s: after restart Next = %s", d, describe(got))
				}
				st := Begin(h.r, a, h.now)
				h.advance(h.stepTime)
				Finish(h.r, a.Step, a.Consumer, h.pass(a), h.s, h.now)
				seen = append(seen, fmt.Sprintf("%s #%d", d, st.Attempt))
			} else {
				h.perform(a, h.pass(a))
				seen = append(seen, fmt.Sprintf("%s #%d", d, h.r.Step(a.Step, a.Consumer).Attempt))
			}
			i++
		case Wait:
			switch {
			case (a.Gate.Gate == "soak" || a.Gate.Gate == "follow-ups") && !a.Gate.Until.IsZero():
				h.at(a.Gate.Until)
			case a.Gate.Gate == "follow-ups":
				for _, c := range h.s.Consumers {
					if cs := h.r.Consumer(c.ID); len(c.Checks) == 0 && !cs.Proven {
						signoff(t, h.r, c.ID, "bob", h.now)
					}
				}
			case a.Gate.Gate == "approval":
				if err := Decide(h.r, Decision{By: "bob", At: h.now, Approve: true}, approvers); err != nil {
					t.Fatal(err)
				}
			default:
				t.Fatalf("unexpected %s", describe(a))
			}
		default:
			t.Fatalf("unexpected %s", describe(a))
		}
	}
	t.Fatal("the run did not finish")
	return nil, nil
}

// TestCrashAtEveryStep: a crash during any step's effect resumes with that very step (attempt
// 2), and the run then goes on exactly as a run without a crash: the same steps in the same
// order, none skipped, none repeated.
func TestCrashAtEveryStep(t *testing.T) {
	_, base := scriptRun(t, -1)
	if len(base) < 15 {
		t.Fatalf("baseline run too short: %v", base)
	}
	for k := range base {
		t.Run(base[k], func(t *testing.T) {
			h, got := scriptRun(t, k)
			// The crashed step's attempt count is one more (and so are those of its later
			// runs: signals run twice); everything else is identical.
			want := append([]string(nil), base...)
			name := attemptless(base[k])
			for i := k; i < len(want); i++ {
				if attemptless(want[i]) == name {
					var n int
					fmt.Sscanf(want[i][len(name)+2:], "%d", &n)
					want[i] = fmt.Sprintf("%s #%d", name, n+1)
				}
			}
			wantSeq(t, got, want...)
			if h.r.Phase != Done {
				t.Errorf("phase %s", h.r.Phase)
			}
			for _, st := range h.r.Steps {
				if st.Status != OK {
					t.Errorf("step %s left %s", st.Name(), st.Status)
				}
			}
		})
	}
}

func attemptless(s string) string { return s[:strings.LastIndex(s, " #")] }

// TestIntentComesFirst: an intent is redone before anything else the run would otherwise
// do or wait for: a closed window, a freeze, a --through pause, a rejection, a retry.
func TestIntentComesFirst(t *testing.T) {
	t.Run("window closed", func(t *testing.T) {
		s := newSpec().window(StagePrepare, officeHours(t)).consumer("api", reload, checks("c")).build()
		h := newHarness(t, s, t0)
		a := h.expect("do readiness @preparing")
		Begin(h.r, a, h.now)
		h.at(inParis("2026-03-10 23:00"))
		h.expect("do readiness @preparing")
	})
	t.Run("freeze", func(t *testing.T) {
		s := newSpec().freeze(freeze(t, "2026-03-11", "2026-03-20", "freeze")).consumer("api", reload, checks("c")).build()
		h := newHarness(t, s, t0)
		a := h.driveUntil("do promote @cutting-over")
		Begin(h.r, a, h.now)
		h.at(inParis("2026-03-12 10:00"))
		h.expect("do promote @cutting-over")
	})
	t.Run("through prepare", func(t *testing.T) {
		h := newHarness(t, newSpec().consumer("api", reload, checks("c")).build(), t0)
		a := h.driveUntil("do promote @cutting-over")
		Begin(h.r, a, h.now)
		h.through = StagePrepare
		h.at(h.now.Add(time.Minute))
		h.expect("do promote @cutting-over")
	})
	t.Run("rejection after revoke began", func(t *testing.T) {
		h := newHarness(t, criticalSpec(), t0)
		h.drive()
		if err := Decide(h.r, Decision{By: "bob", At: h.now, Approve: true}, approvers); err != nil {
			t.Fatal(err)
		}
		a := h.expect("do revoke @revoking")
		Begin(h.r, a, h.now)
		if err := Decide(h.r, Decision{By: "carol", At: h.now, Reason: "wait"}, approvers); err != nil {
			t.Fatal(err)
		}
		h.at(h.now.Add(time.Minute))
		// Revocation began: finishing it is the only consistent state.
		h.expect("do revoke @revoking")
	})
	t.Run("retry pending for another step", func(t *testing.T) {
		h := newHarness(t, newSpec().consumer("api", reload, checks("c")).consumer("web", reload, checks("c")).build(), t0)
		h.driveUntil("do reload:api @cutting-over")
		h.doWith("do reload:api @cutting-over", Outcome{Err: retryable("timeout")})
		// A stale intent from an older process (the journal shows it) is reconciled first.
		h.r.Steps = append(h.r.Steps, Step{Kind: StepReload, Consumer: "web", Status: Intent, Attempt: 1, StartedAt: h.now})
		h.expect("do reload:web @cutting-over")
	})
}

// TestIntentNeverSkippedToRevoke: a verdict step cut short before revoke is redone, and if it
// then fails the run blocks: an interrupted check is never taken as a pass.
func TestIntentNeverSkippedToRevoke(t *testing.T) {
	for _, at := range []string{"do check:api @cutting-over", "do signals @verifying", "do proof:job @verifying", "do residual-use @verifying"} {
		t.Run(at, func(t *testing.T) {
			s := newSpec().signals("auth-errors").usage().
				consumer("api", reload, checks("api-health")).
				consumer("job", delayedAt(0), checks("job-ok")).build()
			h := newHarness(t, s, t0)
			a := h.driveUntil(at)
			Begin(h.r, a, h.now)
			for range 3 {
				h.at(h.now.Add(time.Hour))
				h.expect(at)
			}
			h.doWith(at, Outcome{Verdict: provider.Fail, Detail: "interrupted, then failed"})
			got := h.next()
			if got.Kind != Wait {
				t.Fatalf("after a failed %s: %s", at, describe(got))
			}
			if h.r.started(StepRevoke) {
				t.Fatal("revoke began")
			}
		})
	}
}
