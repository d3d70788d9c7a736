package rotation

import (
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// Signals and soak: the credential-wide signals are read right after cutover and again once
// the soak is over; residual use of the previous version is read before revoke. Missing
// evidence blocks: unknown is never pass.

func soakSpec() *specB {
	return newSpec().signals("auth-errors").soak(24*time.Hour).consumer("api", reload, checks("api-health"))
}

// TestSignalsAfterCutoverAndAfterSoak: signals are checked right after cutover, the soak
// waits until cutover+soak, and the pass from before the soak ended is not enough.
func TestSignalsAfterCutoverAndAfterSoak(t *testing.T) {
	h := newHarness(t, soakSpec().build(), t0)
	cut := t0.Add(5 * time.Second)
	soakEnd := cut.Add(24 * time.Hour)
	got := h.drive()
	wantSeq(t, got[4:], "do promote @cutting-over", "do reload:api @cutting-over", "do check:api @cutting-over",
		"do signals @verifying", "wait soak/unknown"+until(soakEnd))
	a := h.next()
	wantWait(t, a, "soak", provider.Unknown, Verifying)
	if !strings.Contains(a.Gate.Unblock, soakEnd.Format(time.RFC3339)) {
		t.Errorf("unblock %q: want the soak end", a.Gate.Unblock)
	}
	first := h.r.Step(StepSignals, "")

	h.at(soakEnd.Add(-time.Nanosecond))
	h.expect("wait soak/unknown" + until(soakEnd))

	h.at(soakEnd)
	h.do("do signals @verifying")
	if st := h.r.Step(StepSignals, ""); st.Attempt != 2 || !st.FinishedAt.After(first.FinishedAt) {
		t.Errorf("signals after the soak %+v, want a second, later pass", st)
	}
	wantSeq(t, h.drive(), "do revoke @revoking", "do record @revoking", "finished")
}

// TestZeroSoakChecksSignalsOnce: without a soak, the pass right after cutover is fresh.
func TestZeroSoakChecksSignalsOnce(t *testing.T) {
	h := newHarness(t, soakSpec().soak(0).build(), t0)
	got := h.drive()
	wantSeq(t, got[7:], "do signals @verifying", "do revoke @revoking", "do record @revoking", "finished")
}

// TestFailingSignalBlocks: a failing or unknown signal blocks at the signals gate, in the
// soak and after it, whatever the time; a later invocation reads it again.
func TestFailingSignalBlocks(t *testing.T) {
	gate := func(v provider.Verdict) *GateResult {
		return &GateResult{Gate: "signals", Verdict: v, Reason: "auth-errors over threshold", Message: "12 401s in 5m (max 0)"}
	}
	cases := []struct {
		name string
		out  Outcome
		want provider.Verdict
	}{
		{"fail with gate", Outcome{Verdict: provider.Fail, Detail: "12 401s", Gate: gate(provider.Fail)}, provider.Fail},
		{"fail without gate", Outcome{Verdict: provider.Fail, Detail: "12 401s"}, provider.Fail},
		{"unknown: no data", Outcome{Verdict: provider.Unknown, Detail: "log source did not answer"}, provider.Unknown},
		{"unknown with gate", Outcome{Verdict: provider.Unknown, Detail: "no data", Gate: gate(provider.Unknown)}, provider.Unknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, when := range []string{"after cutover", "after soak"} {
				h := newHarness(t, soakSpec().build(), t0)
				h.driveUntil("do signals @verifying")
				soakEnd := h.now.Add(24 * time.Hour) // cutover was 2 steps ago
				if when == "after soak" {
					h.do("do signals @verifying")
					h.at(soakEnd)
				}
				h.doWith("do signals @verifying", c.out)

				// The rest of this invocation, even a week later: blocked at signals.
				for _, d := range []time.Duration{0, 25 * time.Hour, 7 * 24 * time.Hour} {
					h.advance(d)
					a := h.next()
					wantWait(t, a, "signals", c.want, Verifying)
				}
				if h.r.started(StepRevoke) {
					t.Fatalf("%s: revoke began", when)
				}
				// A later invocation reads the signals again; a pass after the soak clears it.
				h.invoke()
				h.do("do signals @verifying")
				wantSeq(t, h.drive(), "do revoke @revoking", "do record @revoking", "finished")
			}
		})
	}
}

// TestStalePassThenFailAfterSoak: the signals passed right after cutover, but the reading
// after the soak says unknown: that blocks, the earlier pass does not count.
func TestStalePassThenFailAfterSoak(t *testing.T) {
	h := newHarness(t, soakSpec().build(), t0)
	h.drive()
	h.at(h.r.CutoverAt.Add(24 * time.Hour))
	h.doWith("do signals @verifying", Outcome{Verdict: provider.Unknown, Detail: "metric has no data"})
	a := h.next()
	wantWait(t, a, "signals", provider.Unknown, Verifying)
	if a.Gate.Message != "metric has no data" {
		t.Errorf("message %q, want the step's detail", a.Gate.Message)
	}
}

// TestResidualUse: with a usage-reporting authority and a previous version, the residual use
// of the previous version must be read and pass before revoke; fail or unknown block.
func TestResidualUse(t *testing.T) {
	for _, v := range []provider.Verdict{provider.Pass, provider.Fail, provider.Unknown} {
		t.Run(string(v), func(t *testing.T) {
			h := newHarness(t, newSpec().usage().consumer("api", reload, checks("api-health")).build(), t0)
			h.driveUntil("do residual-use @verifying")
			out := Outcome{Verdict: v, Detail: "previous version v1 used 3 time(s) since cutover by orders-report"}
			if v != provider.Pass {
				out.Gate = &GateResult{Gate: "residual-use", Verdict: v, Reason: "residual use", Message: out.Detail}
			}
			h.doWith("do residual-use @verifying", out)
			if v == provider.Pass {
				wantSeq(t, h.drive(), "do revoke @revoking", "do record @revoking", "finished")
				return
			}
			for range 2 {
				a := h.next()
				wantWait(t, a, "residual-use", v, Verifying)
				if !strings.Contains(a.Gate.Message, "orders-report") {
					t.Errorf("message %q: want who still uses it", a.Gate.Message)
				}
				h.advance(48 * time.Hour)
			}
			h.at(h.now.Add(time.Minute))
			h.doWith("do residual-use @verifying", out) // still in use
			wantWait(t, h.next(), "residual-use", v, Verifying)
			if h.r.started(StepRevoke) {
				t.Fatal("revoke began with residual use " + string(v))
			}
			h.at(h.now.Add(time.Minute))
			wantSeq(t, h.drive(), "do residual-use @verifying", "do revoke @revoking", "do record @revoking", "finished")
		})
	}
}

// TestResidualUseAfterProofs: residual use is read only once every consumer is proven (it
// is the last evidence before revoke).
func TestResidualUseAfterProofs(t *testing.T) {
	h := newHarness(t, newSpec().usage().consumer("job", delayedAt(time.Hour), checks("job-ok")).build(), t0)
	got := h.drive()
	if last := got[len(got)-1]; !strings.HasPrefix(last, "wait follow-ups/unknown") {
		t.Fatalf("before the job's proof: %s", last)
	}
	h.at(h.r.CutoverAt.Add(time.Hour))
	wantSeq(t, h.drive(), "do proof:job @verifying", "do residual-use @verifying", "do revoke @revoking", "do record @revoking", "finished")
}

// TestFirstRotationHasNoResidualUseNorRevoke: with no previous version there is nothing to
// watch for residual use, nothing to revoke and nothing to approve.
func TestFirstRotationHasNoResidualUseNorRevoke(t *testing.T) {
	h := newHarness(t, newSpec().usage().critical().consumer("api", reload, checks("api-health"), accepts).build(), t0)
	h.first = true
	wantSeq(t, h.drive(), append(prepareSteps(), "do promote @cutting-over", "do reload:api @cutting-over",
		"do check:api @cutting-over", "do record @revoking", "finished")...)
	if h.r.Previous != nil {
		t.Fatalf("previous %+v on a first rotation", h.r.Previous)
	}
	for _, st := range h.r.Steps {
		switch st.Kind {
		case StepResidualUse, StepRevoke, StepReloadAccepting:
			t.Errorf("first rotation ran %s", st.Name())
		}
	}
	if h.r.Phase != Done {
		t.Errorf("phase %s", h.r.Phase)
	}
}
