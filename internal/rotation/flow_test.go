package rotation

import (
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// twoConsumers is a non-critical overlap credential with two immediate consumers: api is
// reloaded and checked (and accepts both values, so it drops the previous one after revoke);
// worker is reloaded but has no check, so only a sign-off proves it.
func twoConsumers() *specB {
	return newSpec().signals("auth-errors").soak(time.Hour).
		consumer("api", reload, checks("api-health"), accepts).
		consumer("worker", reload)
}

// TestOverlapRunStepOrder drives a whole run and pins the exact order of its steps, the
// phase each belongs to, the soak and the sign-off gate.
func TestOverlapRunStepOrder(t *testing.T) {
	h := newHarness(t, twoConsumers().build(), t0)

	wantSeq(t, h.drive(),
		"do readiness @preparing",
		"do mint @preparing",
		"do read-access @preparing",
		"do enable @preparing",
		"do promote @cutting-over",
		"do reload:api @cutting-over",
		"do reload:worker @cutting-over",
		"do check:api @cutting-over",
		"do signals @verifying",
		"wait soak/unknown"+until(t0.Add(5*time.Second+time.Hour)),
	)
	if want := t0.Add(5 * time.Second); !h.r.CutoverAt.Equal(want) {
		t.Fatalf("CutoverAt = %s, want the end of promote %s", h.r.CutoverAt, want)
	}
	if h.r.New == nil || h.r.New.ID != "v2" || h.r.Previous == nil || h.r.Previous.ID != "v1" {
		t.Fatalf("versions after mint: new %+v previous %+v", h.r.New, h.r.Previous)
	}
	wantWait(t, h.next(), "soak", provider.Unknown, Verifying)

	// After the soak the signals are evaluated again, then worker (no check) blocks.
	h.at(h.r.CutoverAt.Add(time.Hour))
	wantSeq(t, h.drive(), "do signals @verifying", "wait follow-ups/unknown")
	a := h.next()
	wantWait(t, a, "follow-ups", provider.Unknown, Verifying)
	if !strings.Contains(a.Gate.Message, "worker") || strings.Contains(a.Gate.Message, "api") {
		t.Errorf("follow-ups message %q: want worker named, api (proven by its check) not", a.Gate.Message)
	}

	signoff(t, h.r, "worker", "bob", h.now)
	wantSeq(t, h.drive(),
		"do revoke @revoking",
		"do reload-accepting:api @revoking",
		"do record @revoking",
		"finished",
	)
	if h.r.Phase != Done {
		t.Errorf("phase %s, want done", h.r.Phase)
	}
	if c := h.r.Consumer("api"); c == nil || !c.Proven || !strings.HasPrefix(c.ProvenBy, "check") {
		t.Errorf("api: %+v, want proven by its check", c)
	}
	if c := h.r.Consumer("worker"); c == nil || !c.Proven || !strings.HasPrefix(c.ProvenBy, "signoff by bob") {
		t.Errorf("worker: %+v, want proven by bob's sign-off", c)
	}
	// A finished run stays finished.
	h.advance(24 * time.Hour)
	h.expect("finished")
}

// TestThroughPausesAtTheStage: --through stops after the named stage and a later rotate
// resumes exactly where it stopped.
func TestThroughPausesAtTheStage(t *testing.T) {
	prepare := []string{"do readiness @preparing", "do mint @preparing", "do read-access @preparing", "do enable @preparing"}
	cutover := []string{"do promote @cutting-over", "do reload:api @cutting-over", "do reload:worker @cutting-over", "do check:api @cutting-over"}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		through  Stage
		critical bool
		want     []string
		phase    Phase // the run's recorded phase at the pause
		resume   string
	}{
		{StagePrepare, false, cat(prepare, []string{"pause @prepared"}), Prepared, "do promote @cutting-over"},
		{StageCutover, false, cat(prepare, cutover, []string{"pause @verifying"}), CuttingOver, "do signals @verifying"},
		{StageVerify, false, cat(prepare, cutover, []string{"do signals @verifying", "pause @revoking"}), Verifying, "do revoke @revoking"},
		{StageVerify, true, cat(prepare, cutover, []string{"do signals @verifying", "pause @awaiting-approval"}), Verifying, "wait approval/unknown"},
	}
	for _, c := range cases {
		t.Run(string(c.through)+map[bool]string{true: "-critical"}[c.critical], func(t *testing.T) {
			b := twoConsumers().soak(0)
			if c.critical {
				b.critical()
			}
			h := newHarness(t, b.build(), t0)
			h.through = c.through
			got := h.drive()
			if last := got[len(got)-1]; last == "wait follow-ups/unknown" {
				// worker has no check: its owner signs off, and the run goes on.
				signoff(t, h.r, "worker", "bob", h.now)
				got = append(got[:len(got)-1], h.drive()...)
			}
			wantSeq(t, got, c.want...)
			if h.r.Phase != c.phase {
				t.Errorf("recorded phase %s, want %s", h.r.Phase, c.phase)
			}
			// Asking again pauses again: --through is idempotent.
			h.expect(c.want[len(c.want)-1])

			h.through = ""
			h.invoke()
			h.expect(c.resume)
		})
	}
}

// TestThroughPrepareDoesNotPauseOnceCutoverStarted: a rotate --through prepare on a run whose
// cutover has begun finishes the cutover rather than stopping half-way.
func TestThroughPrepareDoesNotPauseOnceCutoverStarted(t *testing.T) {
	h := newHarness(t, twoConsumers().build(), t0)
	h.driveUntil("do reload:api @cutting-over")
	h.through = StagePrepare
	h.expect("do reload:api @cutting-over")
}

// TestConsumerWithoutCheckNeedsSignOff: an immediate consumer with no check is never taken
// as proven; verify blocks until an owner signs off, and sign-offs are validated.
func TestConsumerWithoutCheckNeedsSignOff(t *testing.T) {
	h := newHarness(t, newSpec().consumer("worker").build(), t0)

	if err := SignOff(h.r, Signoff{Consumer: "worker", By: "bob", At: h.now, Reason: "early"}); err == nil {
		t.Fatal("SignOff before cutover accepted")
	} else {
		wantErr(t, err, ErrWrongPhase)
	}
	wantSeq(t, h.drive(),
		"do readiness @preparing", "do mint @preparing", "do read-access @preparing", "do enable @preparing",
		"do promote @cutting-over",
		"wait follow-ups/unknown",
	)
	// Time alone does not clear it.
	h.at(h.now.Add(30 * 24 * time.Hour))
	a := h.expect("wait follow-ups/unknown")
	if !strings.Contains(a.Gate.Message, "worker") || !strings.Contains(a.Gate.Unblock, "signoff") {
		t.Errorf("gate %+v: want worker named and rotor signoff as the way out", a.Gate)
	}

	if err := SignOff(h.r, Signoff{Consumer: "worker", By: "bob", At: h.now, Reason: "  "}); err == nil {
		t.Error("SignOff without a reason accepted")
	}
	if err := SignOff(h.r, Signoff{Consumer: "nobody", By: "bob", At: h.now, Reason: "x"}); err == nil {
		t.Error("SignOff of an unknown consumer accepted")
	}
	h.expect("wait follow-ups/unknown")

	signoff(t, h.r, "worker", "bob", h.now)
	if err := SignOff(h.r, Signoff{Consumer: "worker", By: "carol", At: h.now, Reason: "again"}); err == nil {
		t.Error("a second sign-off of a proven consumer accepted")
	}
	wantSeq(t, h.drive(), "do revoke @revoking", "do record @revoking", "finished")
	if len(h.r.Signoffs) != 1 || h.r.Signoffs[0].By != "bob" {
		t.Errorf("signoffs %+v", h.r.Signoffs)
	}
}

// TestInPlaceEnablesInCutover: with in-place only one value can be valid, so the new one is
// enabled at the authority in the cutover, right before promote, never in prepare.
func TestInPlaceEnablesInCutover(t *testing.T) {
	s := newSpec().inPlace().consumer("api", reload, checks("api-health")).build()
	h := newHarness(t, s, t0)
	h.through = StagePrepare
	wantSeq(t, h.drive(),
		"do readiness @preparing",
		"do mint @preparing",
		"do read-access @preparing",
		"pause @prepared",
	)
	h.through = ""
	h.invoke()
	wantSeq(t, h.drive(),
		"do enable @cutting-over",
		"do promote @cutting-over",
		"do reload:api @cutting-over",
		"do check:api @cutting-over",
		"do revoke @revoking",
		"do record @revoking",
		"finished",
	)
}

func TestParseStage(t *testing.T) {
	for _, s := range []string{"prepare", "cutover", "verify", "revoke"} {
		if got, err := ParseStage(s); err != nil || string(got) != s {
			t.Errorf("ParseStage(%q) = %q, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "done", "Prepare", "cutting-over"} {
		if _, err := ParseStage(s); err == nil {
			t.Errorf("ParseStage(%q) accepted", s)
		}
	}
}
