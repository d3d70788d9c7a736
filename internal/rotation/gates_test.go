package rotation

import (
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/schedule"
)

// The window and freeze gates: each stage starts only inside its own window and outside
// freezes; a stage already under way is finished whatever the clock says.

func prepareSteps() []string {
	return []string{"do readiness @preparing", "do mint @preparing", "do read-access @preparing", "do enable @preparing"}
}

// TestPrepareWaitsForItsWindow: outside its window prepare does nothing at all and says
// when the window opens; at the opening it starts.
func TestPrepareWaitsForItsWindow(t *testing.T) {
	s := newSpec().window(StagePrepare, weeknights(t)).consumer("api", reload, checks("api-health")).build()
	h := newHarness(t, s, t0) // Tuesday 15:00, weeknights open at 22:00

	opening := inParis("2026-03-10 22:00")
	a := h.expect("wait window/fail" + until(opening))
	wantWait(t, a, "window", provider.Fail, "")
	if a.Gate.Reason != "outside window weeknights" || !strings.Contains(a.Gate.Unblock, opening.Format(time.RFC3339)) {
		t.Errorf("gate %+v: want the window named and its opening as the way out", a.Gate)
	}
	if len(h.r.Steps) != 0 {
		t.Fatalf("steps recorded outside the window: %+v", h.r.Steps)
	}

	h.at(opening.Add(-time.Second))
	h.expect("wait window/fail" + until(opening))
	h.at(opening)
	h.expect("do readiness @preparing")
	// Inside the window, the last minute still counts (22:00 + 4h, half-open).
	h.at(inParis("2026-03-11 01:59"))
	h.expect("do readiness @preparing")
	// After it closes, the next opening is Wednesday night.
	h.at(inParis("2026-03-11 02:00"))
	h.expect("wait window/fail" + until(inParis("2026-03-11 22:00")))
}

// TestCutoverInFreezeWaitsForFreezeEnd: a freeze stops a stage from starting, even inside
// its window, and the wait lasts until the freeze ends, then until the window opens again.
func TestCutoverInFreezeWaitsForFreezeEnd(t *testing.T) {
	fr := freeze(t, "2026-03-11", "2026-03-13", "release freeze")
	s := newSpec().window(StageCutover, weeknights(t)).freeze(fr).consumer("api", reload, checks("api-health")).build()
	h := newHarness(t, s, t0)
	h.through = StagePrepare
	wantSeq(t, h.drive(), append(prepareSteps(), "pause @prepared")...)
	h.through = ""

	// Wednesday 22:00: inside weeknights, but frozen.
	freezeEnd := inParis("2026-03-14 00:00")
	if !fr.To.Equal(freezeEnd) {
		t.Fatalf("freeze ends %s, want %s", fr.To, freezeEnd)
	}
	h.at(inParis("2026-03-11 22:00"))
	a := h.expect("wait freeze/fail" + until(freezeEnd))
	wantWait(t, a, "freeze", provider.Fail, "")
	if a.Gate.Reason != "freeze: release freeze" {
		t.Errorf("reason %q, want %q", a.Gate.Reason, "freeze: release freeze")
	}
	if !strings.Contains(a.Gate.Message, "cutover") || !strings.Contains(a.Gate.Message, "release freeze") {
		t.Errorf("message %q: want the stage and the freeze named", a.Gate.Message)
	}
	if h.r.started(StepPromote) {
		t.Fatal("promote began in a freeze")
	}
	// The last instant of the freeze is still frozen.
	h.at(freezeEnd.Add(-time.Nanosecond))
	h.expect("wait freeze/fail" + until(freezeEnd))
	// Saturday 00:00: the freeze is over but weeknights (Mon-Thu) is closed until Monday.
	h.at(freezeEnd)
	h.expect("wait window/fail" + until(inParis("2026-03-16 22:00")))
	h.at(inParis("2026-03-16 22:00"))
	h.expect("do promote @cutting-over")
}

// TestFreezeBlocksEveryStage: prepare and revoke are frozen too, not just cutover.
func TestFreezeBlocksEveryStage(t *testing.T) {
	fr := freeze(t, "2026-03-10", "2026-03-10", "incident")
	t.Run("prepare", func(t *testing.T) {
		h := newHarness(t, newSpec().freeze(fr).consumer("api", reload, checks("c")).build(), t0)
		a := h.expect("wait freeze/fail" + until(inParis("2026-03-11 00:00")))
		if a.Gate.Reason != "freeze: incident" {
			t.Errorf("reason %q", a.Gate.Reason)
		}
	})
	t.Run("revoke", func(t *testing.T) {
		s := newSpec().consumer("api", reload, checks("c")).build()
		h := newHarness(t, s, t0.Add(-24*time.Hour))
		h.through = StageVerify
		h.drive()
		h.through = ""
		h.s.Freezes = []schedule.Freeze{fr}
		h.at(t0)
		h.expect("wait freeze/fail" + until(inParis("2026-03-11 00:00")))
		h.at(inParis("2026-03-11 00:00"))
		h.expect("do revoke @revoking")
	})
}

// TestStageUnderwayFinishesOutsideItsWindow: once promote has begun, the cutover is finished
// even after its window closes or a freeze begins — stopping half way is the riskier choice.
// Before the stage's first effect, a closed window still stops it.
func TestStageUnderwayFinishesOutsideItsWindow(t *testing.T) {
	fr := freeze(t, "2026-03-11", "2026-03-11", "sudden freeze")
	s := newSpec().window(StageCutover, weeknights(t)).freeze(fr).
		consumer("api", reload, checks("api-health")).consumer("web", reload, checks("web-health")).build()
	h := newHarness(t, s, inParis("2026-03-10 23:59").Add(50*time.Second))
	h.through = StagePrepare
	h.drive()
	h.through = ""
	h.invoke()
	h.do("do promote @cutting-over")
	h.do("do reload:api @cutting-over")

	// Wednesday 00:00: frozen, and later the window closes: the cutover goes on.
	h.at(inParis("2026-03-11 00:00"))
	h.do("do reload:web @cutting-over")
	h.at(inParis("2026-03-11 12:00"))
	// Revoke is a stage of its own, not under way yet: the freeze holds it.
	wantSeq(t, h.drive(), "do check:api @cutting-over", "do check:web @cutting-over",
		"wait freeze/fail"+until(inParis("2026-03-12 00:00")))
	h.at(inParis("2026-03-12 00:00"))
	wantSeq(t, h.drive(), "do revoke @revoking", "do record @revoking", "finished")
}

func TestPrepareUnderwayAfterMint(t *testing.T) {
	s := newSpec().window(StagePrepare, officeHours(t)).consumer("api", reload, checks("c")).build()
	h := newHarness(t, s, t0) // Tuesday 15:00, inside office hours (09:00-17:00)

	// Readiness alone changes nothing: when the window closes after it, prepare waits.
	h.do("do readiness @preparing")
	h.at(inParis("2026-03-10 17:00"))
	h.expect("wait window/fail" + until(inParis("2026-03-11 09:00")))

	// Once mint has begun, the rest of prepare is finished outside the window.
	h.at(inParis("2026-03-11 16:59").Add(59 * time.Second))
	h.do("do mint @preparing")
	h.at(inParis("2026-03-11 20:00"))
	h.do("do read-access @preparing")
	h.do("do enable @preparing")
	h.expect("do promote @cutting-over") // cutover has no window of its own
}

// TestRevokeWindowSeparateFromCutover: cutover in weeknights, revoke in office hours. The
// revoke waits for office hours after the soak, and the cutover window does not let it run.
func TestRevokeWindowSeparateFromCutover(t *testing.T) {
	s := newSpec().soak(time.Hour).window(StageCutover, weeknights(t)).window(StageRevoke, officeHours(t)).
		consumer("api", reload, checks("api-health"), accepts).build()
	h := newHarness(t, s, t0) // Tuesday 15:00: prepare has no window

	wantSeq(t, h.drive(), append(prepareSteps(), "wait window/fail"+until(inParis("2026-03-10 22:00")))...)
	if g := h.next().Gate; g.Reason != "outside window weeknights" {
		t.Errorf("cutover gate reason %q", g.Reason)
	}

	h.at(inParis("2026-03-10 22:00"))
	cut := inParis("2026-03-10 22:00").Add(1 * time.Second)
	wantSeq(t, h.drive(), "do promote @cutting-over", "do reload:api @cutting-over", "do check:api @cutting-over",
		"wait soak/unknown"+until(cut.Add(time.Hour)))

	// After the soak, still inside weeknights but outside office hours: revoke waits.
	h.at(cut.Add(time.Hour))
	a := h.expect("wait window/fail" + until(inParis("2026-03-11 09:00")))
	if a.Gate.Reason != "outside window office-hours" || !strings.Contains(a.Gate.Message, "revoke") {
		t.Errorf("gate %+v: want the revoke window named", a.Gate)
	}
	h.at(inParis("2026-03-11 08:59").Add(59 * time.Second))
	h.expect("wait window/fail" + until(inParis("2026-03-11 09:00")))

	h.at(inParis("2026-03-11 09:00"))
	h.do("do revoke @revoking")
	// Revocation began: what follows it is finished after office hours.
	h.at(inParis("2026-03-11 18:00"))
	wantSeq(t, h.drive(), "do reload-accepting:api @revoking", "do record @revoking", "finished")
}

// TestWindowNeverOpensWithinTwoYears: a window that cannot open (an impossible date, or a
// freeze that covers every occurrence for years) says so instead of naming a time.
func TestWindowNeverOpensWithinTwoYears(t *testing.T) {
	feb30, err := schedule.NewWindow("feb-30", "0 0 30 2 *", time.Hour, "Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	friday := inParis("2026-03-13 15:00") // weeknights last ended Friday 02:00
	cases := []struct {
		name   string
		w      *schedule.Window
		freeze *schedule.Freeze
	}{
		{"impossible date", &feb30, nil},
		{"frozen for three years", weeknights(t), ptr(freeze(t, "2026-03-14", "2029-03-14", "migration"))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newSpec().window(StageCutover, c.w).consumer("api", reload, checks("c"))
			if c.freeze != nil {
				b.freeze(*c.freeze)
			}
			h := newHarness(t, b.build(), friday)
			h.through = StagePrepare
			h.drive()
			h.through = ""
			h.invoke()
			a := h.expect("wait window/fail")
			wantWait(t, a, "window", provider.Fail, "")
			if !a.Gate.Until.IsZero() {
				t.Errorf("Until = %s, want none", a.Gate.Until)
			}
			if !strings.Contains(a.Gate.Unblock, "does not open within two years") || !strings.Contains(a.Gate.Unblock, c.w.Name) {
				t.Errorf("unblock %q: want the window named and 'does not open within two years'", a.Gate.Unblock)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
