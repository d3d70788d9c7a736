package rotation

import (
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// Delayed consumers: their proof comes later than cutover (a nightly job, a cache TTL), and
// revocation waits for it or for an owner's sign-off.

// delayedSpec: api is immediate; settlement is a job running at 02:00; cache has a 30 min TTL.
func delayedSpec() *specB {
	return newSpec().
		consumer("api", reload, checks("api-health")).
		consumer("settlement", nextRunAt02, checks("settlement-ok")).
		consumer("cache", delayedAt(30*time.Minute), checks("cache-ok"))
}

func failing(v provider.Verdict, detail string) Outcome {
	return Outcome{Verdict: v, Detail: detail}
}

// TestDelayedConsumersGetProofTimeAtPromote: promote sets ProofAfter and a FollowUp on every
// delayed consumer, computed from the cutover instant; immediate consumers get neither.
func TestDelayedConsumersGetProofTimeAtPromote(t *testing.T) {
	h := newHarness(t, delayedSpec().consumer("pipeline", onDemand, checks("pipeline-ok")).build(), t0)
	h.driveUntil("do promote @cutting-over")
	for _, c := range h.r.Consumers {
		if !c.ProofAfter.IsZero() || c.FollowUp != "" {
			t.Fatalf("consumer %s has a follow-up before promote: %+v", c.ID, c)
		}
	}
	h.do("do promote @cutting-over")
	cut := h.r.CutoverAt
	if want := t0.Add(5 * time.Second); !cut.Equal(want) {
		t.Fatalf("CutoverAt %s, want %s", cut, want)
	}
	cases := []struct {
		id       string
		after    time.Time
		followUp string // substring; "" means none at all
	}{
		{"api", time.Time{}, ""},
		{"settlement", inParis("2026-03-11 02:00"), "at or after 2026-03-11T02:00:00+01:00"},
		{"cache", cut.Add(30 * time.Minute), "at or after " + cut.Add(30*time.Minute).Format(time.RFC3339)},
		{"pipeline", time.Time{}, "sign-off"},
	}
	for _, c := range cases {
		cs := h.r.Consumer(c.id)
		if cs == nil {
			t.Errorf("%s: no consumer state after promote", c.id)
			continue
		}
		if !cs.ProofAfter.Equal(c.after) {
			t.Errorf("%s: ProofAfter %s, want %s", c.id, cs.ProofAfter, c.after)
		}
		if c.followUp == "" && cs.FollowUp != "" || c.followUp != "" && !strings.Contains(cs.FollowUp, c.followUp) {
			t.Errorf("%s: FollowUp %q, want %q", c.id, cs.FollowUp, c.followUp)
		}
		if cs.Proven {
			t.Errorf("%s proven at promote", c.id)
		}
	}
}

// TestVerifyWaitsForEarliestProof: verify waits at follow-ups until the earliest proof time,
// asks for each proof when its time comes, and revokes only when all are proven.
func TestVerifyWaitsForEarliestProof(t *testing.T) {
	h := newHarness(t, delayedSpec().build(), t0)
	cut := t0.Add(5 * time.Second)
	cacheAt, settleAt := cut.Add(30*time.Minute), inParis("2026-03-11 02:00")

	got := h.drive()
	a := h.next()
	wantSeq(t, got[len(got)-2:], "do check:api @cutting-over", "wait follow-ups/unknown"+until(cacheAt))
	wantWait(t, a, "follow-ups", provider.Unknown, Verifying)
	for _, id := range []string{"settlement", "cache"} {
		if !strings.Contains(a.Gate.Message, id) {
			t.Errorf("follow-ups message %q does not name %s", a.Gate.Message, id)
		}
	}
	if strings.Contains(a.Gate.Message, "api") {
		t.Errorf("follow-ups message %q names api, proven by its check", a.Gate.Message)
	}

	h.at(cacheAt.Add(-time.Nanosecond))
	h.expect("wait follow-ups/unknown" + until(cacheAt))
	h.at(cacheAt)
	wantSeq(t, h.drive(), "do proof:cache @verifying", "wait follow-ups/unknown"+until(settleAt))
	if c := h.r.Consumer("cache"); !c.Proven || !strings.HasPrefix(c.ProvenBy, "check") {
		t.Errorf("cache after its proof: %+v", c)
	}

	h.at(settleAt.Add(-time.Second))
	h.expect("wait follow-ups/unknown" + until(settleAt))
	h.at(settleAt)
	wantSeq(t, h.drive(), "do proof:settlement @verifying", "do revoke @revoking", "do record @revoking", "finished")
}

// TestFailingProofWaitsThenRetriesNextInvocation: a proof that fails is not run again in a
// loop by the same invocation; the run waits at follow-ups, and a later rotate retries it.
func TestFailingProofWaitsThenRetriesNextInvocation(t *testing.T) {
	for _, v := range []provider.Verdict{provider.Fail, provider.Unknown} {
		t.Run(string(v), func(t *testing.T) {
			h := newHarness(t, newSpec().consumer("settlement", nextRunAt02, checks("settlement-ok")).build(), t0)
			h.drive()
			h.at(inParis("2026-03-11 02:00"))
			h.doWith("do proof:settlement @verifying", failing(v, "no successful run since cutover"))

			for range 3 { // the same invocation, later: still waiting, never a loop
				a := h.expect("wait follow-ups/unknown")
				wantWait(t, a, "follow-ups", provider.Unknown, Verifying)
				if !strings.Contains(a.Gate.Message, "settlement") || !strings.Contains(a.Gate.Message, "no successful run") {
					t.Errorf("message %q: want the consumer and its failure", a.Gate.Message)
				}
				h.advance(time.Hour)
			}
			if c := h.r.Consumer("settlement"); c.Proven {
				t.Fatal("a failing proof proved the consumer")
			}
			if st := h.r.Step(StepProof, "settlement"); st.Status != Failed || st.Verdict != v || st.Attempt != 1 {
				t.Errorf("proof step %+v", st)
			}

			h.invoke()
			h.doWith("do proof:settlement @verifying", failing(v, "still nothing"))
			h.expect("wait follow-ups/unknown")
			h.at(h.now.Add(time.Minute))
			if st := h.r.Step(StepProof, "settlement"); st.Attempt != 2 {
				t.Errorf("attempt %d, want 2", st.Attempt)
			}
			wantSeq(t, h.drive(), "do proof:settlement @verifying", "do revoke @revoking", "do record @revoking", "finished")
		})
	}
}

// TestOnDemandConsumerNeedsSignOff: a delayed consumer with no proof time and no check can
// only be proven by a person; time alone never clears it. One with a check is tried right
// away, and a sign-off still unblocks it when the check cannot pass.
func TestOnDemandConsumerNeedsSignOff(t *testing.T) {
	t.Run("no check", func(t *testing.T) {
		h := newHarness(t, newSpec().consumer("deploy", onDemand).build(), t0)
		got := h.drive()
		if last := got[len(got)-1]; last != "wait follow-ups/unknown" {
			t.Fatalf("after cutover: %s", last)
		}
		h.at(h.now.Add(90 * 24 * time.Hour))
		a := h.expect("wait follow-ups/unknown")
		if !a.Gate.Until.IsZero() {
			t.Errorf("Until %s: nothing clears by itself", a.Gate.Until)
		}
		if !strings.Contains(a.Gate.Message, "deploy") || !strings.Contains(a.Gate.Message, "signoff") {
			t.Errorf("message %q: want deploy and the sign-off named", a.Gate.Message)
		}
		signoff(t, h.r, "deploy", "bob", h.now)
		wantSeq(t, h.drive(), "do revoke @revoking", "do record @revoking", "finished")
	})
	t.Run("with a failing check", func(t *testing.T) {
		h := newHarness(t, newSpec().consumer("deploy", onDemand, checks("last-pipeline-ok")).build(), t0)
		h.driveUntil("do proof:deploy @verifying")
		h.doWith("do proof:deploy @verifying", failing(provider.Unknown, "no pipeline ran"))
		h.expect("wait follow-ups/unknown")
		signoff(t, h.r, "deploy", "bob", h.now)
		wantSeq(t, h.drive(), "do revoke @revoking", "do record @revoking", "finished")
		if c := h.r.Consumer("deploy"); !strings.HasPrefix(c.ProvenBy, "signoff by bob") {
			t.Errorf("deploy %+v: want proven by bob's sign-off", c)
		}
	})
}

// TestDelayedWithoutCheckNeedsSignOffEvenAfterProofTime: a delayed consumer that has a proof
// time but nothing to check it with is not proven by the clock.
func TestDelayedWithoutCheckNeedsSignOffEvenAfterProofTime(t *testing.T) {
	h := newHarness(t, newSpec().consumer("cache", delayedAt(time.Hour)).build(), t0)
	h.drive()
	h.at(h.now.Add(48 * time.Hour))
	a := h.expect("wait follow-ups/unknown")
	if !strings.Contains(a.Gate.Message, "cache (delayed, no check") {
		t.Errorf("message %q", a.Gate.Message)
	}
	signoff(t, h.r, "cache", "bob", h.now)
	h.expect("do revoke @revoking")
}

// TestSignOffRefusals: a sign-off is refused before cutover, for a consumer the run does not
// know, for one already proven, and without a reason; a refused sign-off changes nothing.
func TestSignOffRefusals(t *testing.T) {
	h := newHarness(t, delayedSpec().build(), t0)
	err := SignOff(h.r, Signoff{Consumer: "settlement", By: "bob", At: h.now, Reason: "ok"})
	wantErr(t, err, ErrWrongPhase)
	h.through = StagePrepare
	h.drive()
	wantErr(t, SignOff(h.r, Signoff{Consumer: "settlement", By: "bob", At: h.now, Reason: "ok"}), ErrWrongPhase)
	h.through = ""
	h.invoke()
	h.drive() // cut over; waiting for follow-ups

	cases := []struct {
		name string
		s    Signoff
		want string
	}{
		{"already proven", Signoff{Consumer: "api", By: "bob", Reason: "ok"}, "already proven"},
		{"unknown consumer", Signoff{Consumer: "ghost", By: "bob", Reason: "ok"}, `no consumer "ghost"`},
		{"empty reason", Signoff{Consumer: "settlement", By: "bob", Reason: ""}, "reason"},
		{"blank reason", Signoff{Consumer: "settlement", By: "bob", Reason: " \t\n"}, "reason"},
	}
	for _, c := range cases {
		c.s.At = h.now
		before := len(h.r.Signoffs)
		err := SignOff(h.r, c.s)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
		if len(h.r.Signoffs) != before {
			t.Errorf("%s: a refused sign-off was recorded", c.name)
		}
	}
	if c := h.r.Consumer("settlement"); c.Proven {
		t.Fatal("settlement proven by a refused sign-off")
	}
	h.expect("wait follow-ups/unknown" + until(h.r.CutoverAt.Add(30*time.Minute)))

	// Both delayed consumers signed off: revoke need not wait for their proof times.
	signoff(t, h.r, "settlement", "bob", h.now)
	signoff(t, h.r, "cache", "carol", h.now)
	wantSeq(t, h.drive(), "do revoke @revoking", "do record @revoking", "finished")
	wantErr(t, SignOff(h.r, Signoff{Consumer: "api", By: "bob", At: h.now, Reason: "late"}), ErrWrongPhase)
}
