package rotation

import (
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// Approval: revocation of a critical credential needs an approval by someone other than
// whoever started the run (four eyes), and a rejection after it blocks again.

var approvers = []string{"alice", "bob", "carol"}

func criticalSpec() Spec {
	return newSpec().critical().consumer("api", reload, checks("api-health"), accepts).build()
}

func decide(by string, approve bool, at time.Time) Decision {
	d := Decision{By: by, At: at, Approve: approve}
	if !approve {
		d.Reason = "error rate still climbing"
	}
	return d
}

// TestCriticalWaitsForApproval: after verify, a critical credential waits at the approval
// gate (unknown: nobody decided), and time alone never clears it.
func TestCriticalWaitsForApproval(t *testing.T) {
	h := newHarness(t, criticalSpec(), t0)
	got := h.drive()
	wantSeq(t, got[len(got)-2:], "do check:api @cutting-over", "wait approval/unknown")
	a := h.next()
	wantWait(t, a, "approval", provider.Unknown, AwaitingApproval)
	if !strings.Contains(a.Gate.Message, "not from "+initiator) || !strings.Contains(a.Gate.Unblock, "rotor approve run-1") {
		t.Errorf("gate %+v: want the initiator excluded and rotor approve as the way out", a.Gate)
	}
	h.at(h.now.Add(30 * 24 * time.Hour))
	h.expect("wait approval/unknown")

	if err := Decide(h.r, decide("bob", true, h.now), approvers); err != nil {
		t.Fatal(err)
	}
	wantSeq(t, h.drive(), "do revoke @revoking", "do reload-accepting:api @revoking", "do record @revoking", "finished")
}

// TestFourEyes: the initiator cannot approve, a non-approver cannot decide; neither is
// recorded and the run still waits.
func TestFourEyes(t *testing.T) {
	h := newHarness(t, criticalSpec(), t0)
	h.drive()

	wantErr(t, Decide(h.r, decide(initiator, true, h.now), approvers), ErrFourEyes)
	wantErr(t, Decide(h.r, decide(initiator, true, h.now), nil), ErrFourEyes)
	wantErr(t, Decide(h.r, decide("mallory", true, h.now), approvers), ErrNotApprover)
	wantErr(t, Decide(h.r, decide("mallory", false, h.now), approvers), ErrNotApprover)
	if len(h.r.Approvals) != 0 {
		t.Fatalf("refused decisions recorded: %+v", h.r.Approvals)
	}
	h.expect("wait approval/unknown")

	// Names compare in one canonical form: the initiator cannot approve by spelling it
	// otherwise, and an approver is one whatever the case (issue 12, harm 3).
	wantErr(t, Decide(h.r, decide(" ALICE ", true, h.now), approvers), ErrFourEyes)
	// With no approver list, nobody may approve: not the initiator, not anyone else.
	wantErr(t, Decide(h.r, decide("mallory", true, h.now), nil), ErrNotApprover)
	if len(h.r.Approvals) != 0 {
		t.Fatalf("refused decisions recorded: %+v", h.r.Approvals)
	}
	if err := Decide(h.r, decide("Bob", true, h.now), approvers); err != nil {
		t.Fatal(err)
	}
	h.expect("do revoke @revoking")
}

// TestRejectionAfterApprovalBlocks: a rejection after an approval blocks with verdict fail;
// a new approval after it unblocks. The initiator may reject (but never approve).
func TestRejectionAfterApprovalBlocks(t *testing.T) {
	for _, rejecter := range []string{"carol", initiator} {
		t.Run(rejecter, func(t *testing.T) {
			h := newHarness(t, criticalSpec(), t0)
			h.drive()
			if err := Decide(h.r, decide("bob", true, h.now), approvers); err != nil {
				t.Fatal(err)
			}
			if err := Decide(h.r, decide(rejecter, false, h.now), approvers); err != nil {
				t.Fatal(err)
			}
			a := h.next()
			wantWait(t, a, "approval", provider.Fail, AwaitingApproval)
			if !strings.Contains(a.Gate.Message, rejecter) || !strings.Contains(a.Gate.Message, "error rate still climbing") {
				t.Errorf("message %q: want who rejected and why", a.Gate.Message)
			}
			h.at(h.now.Add(7 * 24 * time.Hour))
			wantWait(t, h.next(), "approval", provider.Fail, AwaitingApproval)

			if err := Decide(h.r, decide("bob", true, h.now), approvers); err != nil {
				t.Fatal(err)
			}
			h.expect("do revoke @revoking")
		})
	}
}

// TestEarlyApprovalCountsAfterVerify: an approval given during the soak is valid once verify
// is done: the run goes straight to revoke, but never before the soak ends.
func TestEarlyApprovalCountsAfterVerify(t *testing.T) {
	s := newSpec().critical().soak(time.Hour).consumer("api", reload, checks("api-health")).build()
	h := newHarness(t, s, t0)
	got := h.drive()
	if last := got[len(got)-1]; !strings.HasPrefix(last, "wait soak/unknown") {
		t.Fatalf("after cutover: %s", last)
	}
	if err := Decide(h.r, decide("bob", true, h.now), approvers); err != nil {
		t.Fatal(err)
	}
	h.expect(got[len(got)-1]) // still soaking
	h.at(h.r.CutoverAt.Add(time.Hour))
	h.expect("do revoke @revoking")
}

// TestDecideWrongPhase: a decision is refused before cutover, after revoke, once the run is
// done, while halted and while rolled back.
func TestDecideWrongPhase(t *testing.T) {
	h := newHarness(t, criticalSpec(), t0)
	wantErr(t, Decide(h.r, decide("bob", true, h.now), approvers), ErrWrongPhase)
	h.through = StagePrepare
	h.drive()
	wantErr(t, Decide(h.r, decide("bob", true, h.now), approvers), ErrWrongPhase)
	h.through = ""
	h.invoke()
	h.drive()
	if err := Decide(h.r, decide("bob", true, h.now), approvers); err != nil {
		t.Fatal(err)
	}
	h.do("do revoke @revoking")
	wantErr(t, Decide(h.r, decide("carol", false, h.now), approvers), ErrWrongPhase)
	h.drive()
	if h.r.Phase != Done {
		t.Fatalf("phase %s", h.r.Phase)
	}
	wantErr(t, Decide(h.r, decide("carol", true, h.now), approvers), ErrWrongPhase)
	if len(h.r.Approvals) != 1 {
		t.Errorf("approvals %+v, want bob's only", h.r.Approvals)
	}

	t.Run("halted", func(t *testing.T) {
		h := newHarness(t, criticalSpec(), t0)
		h.driveUntil("do reload:api @cutting-over")
		h.doWith("do reload:api @cutting-over", Outcome{Err: terminal("no such unit")})
		wantErr(t, Decide(h.r, decide("bob", true, h.now), approvers), ErrWrongPhase)
	})
	t.Run("rolled back", func(t *testing.T) {
		h := newHarness(t, criticalSpec(), t0)
		h.drive()
		if err := h.rollback([]string{"api"}, time.Hour); err != nil {
			t.Fatal(err)
		}
		wantErr(t, Decide(h.r, decide("bob", true, h.now), approvers), ErrWrongPhase)
	})
}

// TestNonCriticalSkipsApproval: a non-critical credential goes from verify to revoke without
// waiting for anybody.
func TestNonCriticalSkipsApproval(t *testing.T) {
	h := newHarness(t, newSpec().consumer("api", reload, checks("api-health")).build(), t0)
	got := h.drive()
	wantSeq(t, got[len(got)-4:], "do check:api @cutting-over", "do revoke @revoking", "do record @revoking", "finished")
	if len(h.r.Approvals) != 0 {
		t.Errorf("approvals %+v", h.r.Approvals)
	}
}

// TestApprovedAndRejected: the approval state is read from the whole list of decisions; an
// approval by the initiator (the database edited by hand) never counts.
func TestApprovedAndRejected(t *testing.T) {
	ap := func(by string) Decision { return Decision{By: by, Approve: true} }
	rj := func(by string) Decision { return Decision{By: by, Reason: "no"} }
	cases := []struct {
		name     string
		ds       []Decision
		approved string // "" for none
		rejected string
	}{
		{"none", nil, "", ""},
		{"bob", []Decision{ap("bob")}, "bob", ""},
		{"initiator only", []Decision{ap(initiator)}, "", ""},
		{"bob then initiator", []Decision{ap("bob"), ap(initiator)}, "bob", ""},
		{"bob then rejected", []Decision{ap("bob"), rj("carol")}, "", "carol"},
		{"rejected then bob", []Decision{rj("carol"), ap("bob")}, "bob", ""},
		{"rejected then initiator", []Decision{rj("carol"), ap(initiator)}, "", ""},
		{"two rejections", []Decision{rj("carol"), rj("dave")}, "", "dave"},
		{"bob, carol rejects, dave", []Decision{ap("bob"), rj("carol"), ap("dave")}, "dave", ""},
	}
	for _, c := range cases {
		r := &Run{StartedBy: initiator, Approvals: c.ds}
		d, ok := r.Approved()
		if ok != (c.approved != "") || ok && d.By != c.approved {
			t.Errorf("%s: Approved = %v %+v, want %q", c.name, ok, d, c.approved)
		}
		d, ok = r.Rejected()
		if ok != (c.rejected != "") || ok && d.By != c.rejected {
			t.Errorf("%s: Rejected = %v %+v, want %q", c.name, ok, d, c.rejected)
		}
	}
}

// TestNoPossibleApproverBlocks (issue 12, harm 3): a critical credential whose only
// approver is the initiator — in any spelling — or that has none (the inventory changed
// under the run) is blocked at the approval gate with a failing verdict that says why, not
// left waiting for an approval nobody may give.
func TestNoPossibleApproverBlocks(t *testing.T) {
	for name, list := range map[string][]string{"only the initiator": {" Alice"}, "nobody": nil} {
		t.Run(name, func(t *testing.T) {
			s := criticalSpec()
			s.Approvers = list
			h := newHarness(t, s, t0)
			h.drive()
			a := h.next()
			wantWait(t, a, "approval", provider.Fail, AwaitingApproval)
			if a.Gate.Reason != "no possible approver" || !strings.Contains(a.Gate.Unblock, "add an approver other than "+initiator) {
				t.Errorf("gate %+v", a.Gate)
			}
		})
	}
}
