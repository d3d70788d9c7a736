package rotation

import (
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// TestRejectionBlocksAnyCredential: a person who rejects revocation stops it even where no
// approval is needed.
func TestRejectionBlocksAnyCredential(t *testing.T) {
	h := newHarness(t, newSpec().consumer("api", reload, checks("api-health")).build(), t0)
	h.driveUntil("do revoke @revoking")
	if err := Decide(h.r, decide("carol", false, h.now), nil); err != nil {
		t.Fatal(err)
	}
	wantWait(t, h.next(), "approval", provider.Fail, AwaitingApproval)
	if err := Decide(h.r, decide("bob", true, h.now), nil); err != nil {
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
