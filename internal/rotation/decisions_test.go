package rotation

import (
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// TestRejectionBlocksAnyCredential: a person who rejects revocation stops it even where no
// approval is needed.
func TestRejectionBlocksAnyCredential(t *testing.T) {
	h := newHarness(t, newSpec().consumer("api", reload, checks("api-health")).build(), t0)
	h.driveUntil("do revoke @revoking")
	if err := Decide(h.r, decide("carol", false, h.now), approvers); err != nil {
		t.Fatal(err)
	}
	wantWait(t, h.next(), "approval", provider.Fail, AwaitingApproval)
	if err := Decide(h.r, decide("bob", true, h.now), approvers); err != nil {
		t.Fatal(err)
	}
	h.expect("do revoke @revoking")
}

// TestRollbackVoidsEarlierDecisions: an approval given before a rollback judged evidence the
// rollback proved wrong; after the exception closes, revocation needs a new approval.
func TestRollbackVoidsEarlierDecisions(t *testing.T) {
	h := newHarness(t, criticalSpec(), t0)
	h.drive()
	if err := Decide(h.r, decide("bob", true, h.now), approvers); err != nil {
		t.Fatal(err)
	}
	h.advance(time.Minute)
	if err := h.rollback([]string{"api"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	h.doRollback(nil)
	h.at(h.r.Exceptions[0].Expires)
	h.doExpiry(provider.Pass)
	if _, ok := h.r.Approved(); ok {
		t.Fatal("an approval from before the rollback still counts")
	}
	h.drive()
	wantWait(t, h.next(), "approval", provider.Unknown, AwaitingApproval)
	if err := Decide(h.r, decide("carol", true, h.now), approvers); err != nil {
		t.Fatal(err)
	}
	h.expect("do revoke @revoking")
}

// TestEvidenceIsGatheredAgainAfterAnException: signals and residual use that passed before a
// rollback are read again over the time since the exception closed.
func TestEvidenceIsGatheredAgainAfterAnException(t *testing.T) {
	h := newHarness(t, newSpec().signals("auth-errors").usage().critical().consumer("api", reload, checks("api-health")).build(), t0)
	h.drive() // waits at approval with signals and residual use passed
	if !h.r.done(StepSignals, "") || !h.r.done(StepResidualUse, "") {
		t.Fatal("setup: signals and residual use should have passed")
	}
	if err := h.rollback([]string{"api"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	h.doRollback(nil)
	h.at(h.r.Exceptions[0].Expires)
	h.doExpiry(provider.Pass)
	if got := h.r.EvidenceSince(); !got.Equal(h.r.Exceptions[0].Closed) {
		t.Errorf("EvidenceSince %s, want the exception's close %s", got, h.r.Exceptions[0].Closed)
	}
	h.invoke()
	h.expect("do signals @verifying")
}

// TestIncompleteEvidenceIsGatheredAgainWhenComplete: a check that says when its evidence will
// be complete (a log window not full yet) is run again at that time within the same
// invocation — not in a loop before it, and not only when a person comes back.
func TestIncompleteEvidenceIsGatheredAgainWhenComplete(t *testing.T) {
	h := newHarness(t, newSpec().signals("old-key-unused").consumer("api", reload, checks("api-health")).build(), t0)
	h.driveUntil("do signals @verifying")
	complete := h.now.Add(3 * time.Second)
	h.doWith("do signals @verifying", Outcome{Verdict: provider.Unknown, Detail: "window not full yet",
		Gate: &GateResult{Gate: "signals", Verdict: provider.Unknown, Reason: "evidence not complete yet", Message: "old-key-unused unknown (window not full yet)", Until: complete}})
	a := h.next()
	wantWait(t, a, "signals", provider.Unknown, Verifying)
	if !a.Gate.Until.Equal(complete) {
		t.Fatalf("until %s, want %s", a.Gate.Until, complete)
	}
	h.advance(complete.Sub(h.now) - time.Millisecond) // the same invocation, waiting
	wantWait(t, h.next(), "signals", provider.Unknown, Verifying)
	h.advance(time.Millisecond)
	h.expect("do signals @verifying")
}

// TestEndingSessionsNeedsTheSettingAndAnApproval: residual use that finds sessions of the
// previous version blocks revoke; where the authority may end sessions, an approval given
// after that finding lets revoke go on (and end them); an unknown finding, an approval from
// before it, or an authority without the setting never does.
func TestEndingSessionsNeedsTheSettingAndAnApproval(t *testing.T) {
	spec := func(end bool) Spec {
		b := newSpec().usage().consumer("api", reload, checks("api-health"))
		b.s.EndSessions = end
		return b.build()
	}
	residual := func(h *harness, v provider.Verdict) {
		h.doWith("do residual-use @verifying", Outcome{Verdict: v, Detail: "2 sessions of orders_a: nightly-report@10.0.0.7",
			Gate: &GateResult{Gate: "residual-use", Verdict: v, Reason: "residual use", Message: "2 sessions of orders_a"}})
	}
	for _, tc := range []struct {
		name          string
		end           bool
		verdict       provider.Verdict
		approveBefore bool
		want          string
	}{
		{"setting and approval after the finding", true, provider.Fail, false, "do revoke @revoking"},
		{"no setting", false, provider.Fail, false, "wait residual-use"},
		{"unknown use", true, provider.Unknown, false, "wait residual-use"},
		{"approval before the finding", true, provider.Fail, true, "wait residual-use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, spec(tc.end), t0)
			h.driveUntil("do residual-use @verifying")
			if tc.approveBefore {
				if err := Decide(h.r, decide("bob", true, h.now), approvers); err != nil {
					t.Fatal(err)
				}
				h.advance(time.Second)
			}
			residual(h, tc.verdict)
			if !tc.approveBefore {
				h.advance(time.Second)
				if err := Decide(h.r, decide("bob", true, h.now), approvers); err != nil {
					t.Fatal(err)
				}
			}
			a := h.next()
			if got := describe(a); !strings.HasPrefix(got, tc.want) {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			// The engine asks the authority to end sessions only with both.
			if tc.want == "do revoke @revoking" != (tc.end && h.r.EndSessionsApproved()) {
				t.Errorf("EndSessionsApproved = %v", h.r.EndSessionsApproved())
			}
		})
	}
}
