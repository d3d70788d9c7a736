package rotation

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// Faults: retryable errors are retried with backoff up to MaxAttempts, everything else halts
// at once in a safe state that says what is safe to do next; Resume retries the halted step.

const stillValid = "The previous value is still valid; nothing was revoked."

func TestBackoff(t *testing.T) {
	cases := []struct {
		n    int
		want time.Duration
	}{
		{1, 2 * time.Second}, {2, 4 * time.Second}, {3, 8 * time.Second}, {4, 16 * time.Second},
		{5, 32 * time.Second}, {8, 256 * time.Second}, {9, 5 * time.Minute}, {10, 5 * time.Minute}, {1000, 5 * time.Minute},
	}
	for _, c := range cases {
		if got := Backoff(c.n); got != c.want {
			t.Errorf("Backoff(%d) = %s, want %s", c.n, got, c.want)
		}
	}
}

// TestRetryableThenHalt: each retryable failure sets RetryAt = now + Backoff(attempt) and Next
// waits until exactly then; the MaxAttempts-th failure halts safely; Resume retries the step
// from attempt 1.
func TestRetryableThenHalt(t *testing.T) {
	for _, c := range []struct{ at, safe string }{
		{"do mint @preparing", stillValid},
		{"do reload:api @cutting-over", stillValid},
		{"do revoke @revoking", "The revoke may have taken effect part way"},
	} {
		at := c.at
		t.Run(at, func(t *testing.T) {
			h := newHarness(t, newSpec().consumer("api", reload, checks("api-health")).build(), t0)
			a := h.driveUntil(at)
			phase := a.Phase
			for attempt := 1; attempt < MaxAttempts; attempt++ {
				h.doWith(at, Outcome{Err: retryable("503 from upstream")})
				retryAt := h.now.Add(Backoff(attempt))
				if !h.r.RetryAt.Equal(retryAt) {
					t.Fatalf("attempt %d: RetryAt %s, want %s", attempt, h.r.RetryAt, retryAt)
				}
				st := h.r.Step(a.Step, a.Consumer)
				if st.Status != Failed || st.Attempt != attempt || st.Verdict != provider.Unknown || !strings.Contains(st.Detail, "503") {
					t.Fatalf("attempt %d: step %+v", attempt, st)
				}
				if h.r.Halt != nil || h.r.Phase != phase {
					t.Fatalf("attempt %d: halted %+v, phase %s", attempt, h.r.Halt, h.r.Phase)
				}
				w := h.expect("wait retry/unknown" + until(retryAt))
				if !strings.Contains(w.Gate.Unblock, retryAt.Format(time.RFC3339)) {
					t.Errorf("unblock %q", w.Gate.Unblock)
				}
				h.now = retryAt.Add(-time.Nanosecond)
				h.expect("wait retry/unknown" + until(retryAt))
				h.now = retryAt // the same invocation: the engine slept until then
			}
			h.doWith(at, Outcome{Err: retryable("503 from upstream")})

			if h.r.Phase != Halted || h.r.Halt == nil {
				t.Fatalf("after %d retryable failures: phase %s halt %+v", MaxAttempts, h.r.Phase, h.r.Halt)
			}
			hl := h.r.Halt
			if hl.Step != StepName(a.Step, a.Consumer) || hl.Kind != "retryable" || !strings.Contains(hl.Reason, "503") || !hl.At.Equal(h.now) {
				t.Errorf("halt %+v", hl)
			}
			if !strings.HasPrefix(hl.Next, c.safe) || !strings.Contains(hl.Next, "resume from "+string(a.Step)) {
				t.Errorf("advice %q", hl.Next)
			}
			if !h.r.RetryAt.IsZero() {
				t.Errorf("RetryAt %s left on a halted run", h.r.RetryAt)
			}
			s := h.expect("stopped halted")
			if s.Gate.Unblock != hl.Next || s.Gate.Verdict != provider.Fail {
				t.Errorf("stopped gate %+v", s.Gate)
			}
			h.at(h.now.Add(24 * time.Hour))
			h.expect("stopped halted") // a halt never clears by itself

			Resume(h.r, h.now)
			if h.r.Halt != nil || h.r.Phase != phase {
				t.Fatalf("after resume: halt %+v phase %s", h.r.Halt, h.r.Phase)
			}
			if st := h.r.Step(a.Step, a.Consumer); st.Attempt != 0 {
				t.Errorf("attempt after resume %d, want 0", st.Attempt)
			}
			a2 := h.expect(at)
			if st := Begin(h.r, a2, h.now); st.Attempt != 1 {
				t.Errorf("first attempt after resume is %d, want 1", st.Attempt)
			}
			h.advance(time.Second)
			Finish(h.r, a2.Step, a2.Consumer, h.pass(a2), h.s, h.now)
			got := h.drive()
			if got[len(got)-1] != "finished" {
				t.Fatalf("after resume: %v", got)
			}
		})
	}
}

// TestRetryableCheckRetriedAcrossInvocations: a check failing with a retryable error is not
// hammered within one invocation (it waits at its gate after the backoff), a later
// invocation retries it, and the attempts add up across invocations to a safe halt.
func TestRetryableCheckRetriedAcrossInvocations(t *testing.T) {
	h := newHarness(t, newSpec().consumer("api", reload, checks("api-health")).build(), t0)
	h.driveUntil("do check:api @cutting-over")
	for attempt := 1; attempt <= MaxAttempts; attempt++ {
		h.doWith("do check:api @cutting-over", Outcome{Err: retryable("connection reset")})
		if attempt == MaxAttempts {
			break
		}
		h.expect("wait retry/unknown" + until(h.r.RetryAt))
		h.now = h.r.RetryAt
		a := h.next()
		wantWait(t, a, "check:api", provider.Unknown, CuttingOver)
		h.at(h.now.Add(time.Minute))
	}
	if h.r.Halt == nil || h.r.Halt.Step != "check:api" {
		t.Fatalf("halt %+v", h.r.Halt)
	}
}

// TestHaltAtOnce: terminal, denied and needs-a-human errors (and unclassified ones) halt at
// the first failure, with advice that fits the error and the state of the run.
func TestHaltAtOnce(t *testing.T) {
	cases := []struct {
		name   string
		spec   Spec
		at     string
		err    error
		kind   string
		safe   string
		advice string
	}{
		{"terminal readiness", newSpec().consumer("api", reload, checks("c")).build(), "do readiness @preparing",
			terminal("no such role"), "terminal", stillValid, "resume from readiness"},
		{"denied mint", newSpec().consumer("api", reload, checks("c")).build(), "do mint @preparing",
			denied("permission denied on kv/prod"), "denied", stillValid, "Grant the permission"},
		{"needs a human at enable", newSpec().consumer("api", reload, checks("c")).build(), "do enable @preparing",
			provider.Errorf(provider.NeedsHuman, "enable", "confirm the key in the portal"), "needs a human", stillValid, "Do what the error asks"},
		{"unclassified error is terminal", newSpec().consumer("api", reload, checks("c")).build(), "do reload:api @cutting-over",
			errors.New("exit status 1"), "terminal", stillValid, "resume from reload"},
		{"after revoke: record", newSpec().consumer("api", reload, checks("c")).build(), "do record @revoking",
			terminal("state conflict"), "terminal", "The previous value is already revoked.", "resume from record"},
		{"after revoke: reload-accepting", newSpec().consumer("api", reload, checks("c"), accepts).build(), "do reload-accepting:api @revoking",
			denied("cannot restart"), "denied", "The previous value is already revoked.", "Grant the permission"},
		{"in-place after enable", newSpec().inPlace().consumer("api", reload, checks("c")).build(), "do promote @cutting-over",
			terminal("store unreachable"), "terminal", "The new value is active at the authority (in-place)", "roll back or finish the cutover"},
		{"in-place enable itself", newSpec().inPlace().consumer("api", reload, checks("c")).build(), "do enable @cutting-over",
			terminal("ALTER ROLE timed out"), "terminal", "The in-place enable may have taken effect", "roll back or finish the cutover"},
		{"in-place reload after enable", newSpec().inPlace().consumer("api", reload, checks("c")).build(), "do reload:api @cutting-over",
			denied("no sudo"), "denied", "The new value is active at the authority (in-place)", "Grant the permission"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.spec, t0)
			a := h.driveUntil(c.at)
			h.doWith(c.at, Outcome{Err: c.err})
			if h.r.Phase != Halted || h.r.Halt == nil {
				t.Fatalf("phase %s halt %+v, want halted at once", h.r.Phase, h.r.Halt)
			}
			if st := h.r.Step(a.Step, a.Consumer); st.Attempt != 1 || st.Status != Failed {
				t.Errorf("step %+v", st)
			}
			if !h.r.RetryAt.IsZero() {
				t.Errorf("RetryAt %s set for a %s error", h.r.RetryAt, c.kind)
			}
			hl := h.r.Halt
			if hl.Kind != c.kind || hl.Step != StepName(a.Step, a.Consumer) {
				t.Errorf("halt %+v, want kind %q at %s", hl, c.kind, StepName(a.Step, a.Consumer))
			}
			if !strings.HasPrefix(hl.Next, c.safe) || !strings.Contains(hl.Next, c.advice) {
				t.Errorf("advice %q, want %q … %q", hl.Next, c.safe, c.advice)
			}
			if c.safe != stillValid && strings.Contains(hl.Next, "nothing was revoked") {
				t.Errorf("advice %q claims nothing was revoked", hl.Next)
			}
			h.expect("stopped halted")
			h.at(h.now.Add(time.Minute))
			Resume(h.r, h.now)
			h.expect(c.at)
		})
	}
}

// TestHaltDuringRevokeIsNotCalledSafe: a revoke that fails part way (the authority revoked,
// the store could not disable) must not tell the operator that nothing was revoked.
func TestHaltDuringRevokeIsNotCalledSafe(t *testing.T) {
	h := newHarness(t, newSpec().consumer("api", reload, checks("c")).build(), t0)
	h.driveUntil("do revoke @revoking")
	h.doWith("do revoke @revoking", Outcome{Err: terminal("disable previous version: 404")})
	if h.r.Halt == nil {
		t.Fatal("not halted")
	}
	if strings.Contains(h.r.Halt.Next, "still valid") || strings.Contains(h.r.Halt.Next, "nothing was revoked") {
		t.Errorf("advice %q after a failed revoke: the previous value may be revoked already", h.r.Halt.Next)
	}
	if !strings.Contains(h.r.Halt.Next, "resume from revoke") {
		t.Errorf("advice %q: want how to resume", h.r.Halt.Next)
	}
	// Resumed, the revoke is finished; the gates are not asked again.
	h.at(h.now.Add(time.Hour))
	Resume(h.r, h.now)
	wantSeq(t, h.drive(), "do revoke @revoking", "do record @revoking", "finished")
}

// TestVerdictFailureIsNotAnError: a check that fails is evidence, not an error: it never
// halts the run nor sets a retry; the run waits at the check's gate.
func TestVerdictFailureIsNotAnError(t *testing.T) {
	h := newHarness(t, newSpec().consumer("api", reload, checks("api-health")).build(), t0)
	h.driveUntil("do check:api @cutting-over")
	h.doWith("do check:api @cutting-over", Outcome{Verdict: provider.Fail, Detail: "healthz 500",
		Gate: &GateResult{Gate: "check:api", Verdict: provider.Fail, Reason: "api-health failed", Message: "healthz 500"}})
	if h.r.Halt != nil || !h.r.RetryAt.IsZero() {
		t.Fatalf("halt %+v retry %s", h.r.Halt, h.r.RetryAt)
	}
	a := h.next()
	wantWait(t, a, "check:api", provider.Fail, CuttingOver)
	if a.Gate.Message != "healthz 500" {
		t.Errorf("gate %+v", a.Gate)
	}
	if c := h.r.Consumer("api"); c.Proven {
		t.Error("a failing check proved api")
	}
	h.at(h.now.Add(time.Minute))
	wantSeq(t, h.drive(), "do check:api @cutting-over", "do revoke @revoking", "do record @revoking", "finished")
}

// TestReadinessFailureWaits: readiness and read-access that do not pass (evidence, not an
// error) keep the run in prepare, waiting, with nothing minted after a failed readiness.
func TestReadinessFailureWaits(t *testing.T) {
	h := newHarness(t, newSpec().consumer("api", reload, checks("c")).build(), t0)
	h.doWith("do readiness @preparing", Outcome{Verdict: provider.Fail, Detail: "consumer api has no identity"})
	a := h.next()
	wantWait(t, a, "readiness", provider.Fail, Preparing)
	if h.r.started(StepMint) {
		t.Fatal("mint began after a failed readiness")
	}
	h.at(h.now.Add(time.Minute))
	h.do("do readiness @preparing")
	h.do("do mint @preparing")
	h.doWith("do read-access @preparing", Outcome{Verdict: provider.Unknown, Detail: "vault did not answer"})
	wantWait(t, h.next(), "read-access", provider.Unknown, Preparing)
	if h.r.started(StepPromote) || h.r.started(StepEnable) {
		t.Fatal("enable or promote began without read access proven")
	}
}

// refused is an error from a request that failed before it could act (a connection refused).
func refused(msg string) error { return provider.NotStarted(retryable(msg)) }

// TestRetryWaitSaysWhy: the wait for a retry names the step, its attempt of MaxAttempts, the
// error, whether it can have changed anything and when the next attempt is due — what
// rotate, status and the journal print — not just "a step failed".
func TestRetryWaitSaysWhy(t *testing.T) {
	h := newHarness(t, newSpec().consumer("api", reload, checks("c")).build(), t0)
	h.driveUntil("do revoke @revoking")
	h.doWith("do revoke @revoking", Outcome{Err: refused("connect as admin postgres to 127.0.0.1:5432: connection refused")})
	w := h.expect("wait retry/unknown" + until(h.r.RetryAt))
	due := h.r.RetryAt.Format(time.RFC3339)
	want := "revoke: attempt 1 of 5 failed (retryable, nothing changed): call: connect as admin postgres to 127.0.0.1:5432: connection refused; attempt 2 is due at " + due
	if w.Gate.Message != want {
		t.Errorf("retry gate message\n got %q\nwant %q", w.Gate.Message, want)
	}
	if w.Step != StepRevoke {
		t.Errorf("the wait names step %q, want revoke", w.Step)
	}
	if got := h.r.Failure(h.r.Step(StepRevoke, "")); !strings.HasPrefix(want, "revoke: "+got) {
		t.Errorf("Failure = %q, want the gate's words", got)
	}

	// The next attempt may have changed something (the connection was lost after the
	// statement was sent): the step says so from then on, even when later attempts are
	// refused again.
	h.now = h.r.RetryAt
	h.doWith("do revoke @revoking", Outcome{Err: retryable("alter role orders_a NOLOGIN: unexpected EOF")})
	if got := h.r.Failure(h.r.Step(StepRevoke, "")); !strings.HasPrefix(got, "attempt 2 of 5 failed (retryable, may have changed something): ") {
		t.Errorf("Failure after a lost connection = %q", got)
	}
	h.now = h.r.RetryAt
	h.doWith("do revoke @revoking", Outcome{Err: refused("connection refused")})
	if got := h.r.Failure(h.r.Step(StepRevoke, "")); !strings.Contains(got, "may have changed something") {
		t.Errorf("an earlier attempt may have acted, yet Failure = %q", got)
	}

	// A terminal error halts at once and names no next attempt.
	h2 := newHarness(t, newSpec().consumer("api", reload, checks("c")).build(), t0)
	h2.driveUntil("do mint @preparing")
	h2.doWith("do mint @preparing", Outcome{Err: provider.NotStarted(terminal("no such mount"))})
	s := h2.expect("stopped halted")
	if s.Gate.Message != "mint: attempt 1 failed (terminal, nothing changed): call: no such mount; halted" {
		t.Errorf("halt gate message %q", s.Gate.Message)
	}
}

// TestHaltAdviceFollowsWhetherAnythingChanged: a halt's advice is as alarming as the facts.
// Every attempt refused before it could act: nothing was changed, retry when the system is
// back. Any attempt that may have acted (a connection lost after the statement was sent, a
// crash during the effect): check whether it did, then resume.
func TestHaltAdviceFollowsWhetherAnythingChanged(t *testing.T) {
	lost := retryable("alter role: unexpected EOF")
	for _, c := range []struct {
		name     string
		spec     Spec
		at       string
		errs     []error // one per attempt; a nil error is a crash during the effect
		want     []string
		wantNot  []string
		haltKind string
	}{
		{"revoke refused five times", newSpec().consumer("api", reload, checks("c")).build(), "do revoke @revoking",
			[]error{refused("connection refused"), refused("connection refused"), refused("connection refused"), refused("connection refused"), refused("connection refused")},
			[]string{"Nothing was changed", "nothing was revoked", "Retry once what the error names is reachable again: rotor rotate orders-db resumes from revoke."},
			[]string{"may already be revoked", "part way"}, "retryable"},
		{"revoke: the connection lost once, then refused", newSpec().consumer("api", reload, checks("c")).build(), "do revoke @revoking",
			[]error{lost, refused("connection refused"), refused("connection refused"), refused("connection refused"), refused("connection refused")},
			[]string{"The revoke may have taken effect part way: the previous value may already be revoked", "check both. Then run rotor rotate orders-db again to resume from revoke"},
			[]string{"Nothing was changed"}, "retryable"},
		{"revoke: a crash during the effect, then refused", newSpec().consumer("api", reload, checks("c")).build(), "do revoke @revoking",
			[]error{nil, refused("connection refused"), refused("connection refused"), refused("connection refused"), refused("connection refused")},
			[]string{"The revoke may have taken effect part way"}, []string{"Nothing was changed"}, "retryable"},
		{"in-place enable: login failed", newSpec().inPlace().consumer("api", reload, checks("c")).build(), "do enable @cutting-over",
			[]error{provider.NotStarted(denied("password authentication failed for user \"admin\""))},
			[]string{"Nothing was changed: no attempt of the in-place enable got as far as the authority", "Grant the permission"},
			[]string{"part way", "may already hold", "may have taken effect"}, "denied"},
		{"reload refused", newSpec().consumer("api", reload, checks("c")).build(), "do reload:api @cutting-over",
			[]error{provider.NotStarted(terminal("no such pid file"))},
			[]string{"Nothing was changed: no attempt of reload:api got as far as acting", "nothing was revoked", "resume from reload"}, nil, "terminal"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.spec, t0)
			a := h.driveUntil(c.at)
			for i, err := range c.errs {
				switch {
				case i > 0 && c.errs[i-1] == nil: // the next rotate, after the crash
					h.at(h.now.Add(time.Minute))
				case i > 0:
					h.now = h.r.RetryAt
				}
				a = h.expect(c.at)
				if err == nil { // killed during the effect: the intent stays
					Begin(h.r, a, h.now)
					continue
				}
				h.perform(a, Outcome{Err: err})
			}
			if h.r.Halt == nil || h.r.Halt.Kind != c.haltKind {
				t.Fatalf("halt %+v, want a %s halt", h.r.Halt, c.haltKind)
			}
			for _, w := range c.want {
				if !strings.Contains(h.r.Halt.Next, w) {
					t.Errorf("advice %q lacks %q", h.r.Halt.Next, w)
				}
			}
			for _, w := range c.wantNot {
				if strings.Contains(h.r.Halt.Next, w) {
					t.Errorf("advice %q says %q", h.r.Halt.Next, w)
				}
			}
		})
	}
}
