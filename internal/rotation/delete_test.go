package rotation

import (
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// Disable, and only later delete: the version a run retired (its previous, disabled at its
// revoke) is deleted from the store by a step the done run still owes. By default at the next
// rotation's revoke, so one previous version always stays; with delete_after, that long after
// the revoke. Never before the revoke, never a version in use or kept for a rollback.

// doneRun drives a rotation of v1 -> v2 to done and returns the harness; revokedAt is when
// its revoke finished.
func doneRun(t *testing.T, after time.Duration, first bool) (h *harness, revokedAt time.Time) {
	t.Helper()
	b := newSpec().consumer("api", reload, checks("api-health"))
	b.s.DeleteAfter = after
	h = newHarness(t, b.build(), t0)
	h.first = first
	got := h.drive()
	if got[len(got)-1] != "finished" || h.r.Phase != Done {
		t.Fatalf("setup: %v, phase %s", got, h.r.Phase)
	}
	for _, d := range got {
		if strings.Contains(d, "delete") {
			t.Fatalf("a deletion was asked for while the run was under way: %v", got)
		}
	}
	revokedAt = h.r.Step(StepRevoke, "").FinishedAt
	if first {
		revokedAt = h.now // nothing was revoked
	}
	return h, revokedAt
}

// successor is the credential's next run: v2 -> v3, revoked or not.
func successor(revoked bool) *Run {
	s := &Run{ID: "run-2", Credential: "orders-db", Phase: Verifying,
		Previous: &provider.Version{ID: "v2"}, New: &provider.Version{ID: "v3"},
		Consumers: []ConsumerState{{ID: "api"}}}
	if revoked {
		s.Phase = Revoking
		s.Steps = append(s.Steps, Step{Kind: StepRevoke, Status: OK, Verdict: provider.Pass})
	}
	return s
}

func TestDeleteWhen(t *testing.T) {
	week := 7 * 24 * time.Hour
	pinned := successor(false)
	pinned.Consumers[0].PinnedTo = "v1" // a rollback of the next run pinned api to v1 (contrived)
	pinned.Exceptions = []Exception{{Consumers: []string{"api"}, State: "open"}}
	keptBack := successor(true)
	keptBack.Previous = &provider.Version{ID: "v1"} // the next run keeps v1 for its rollback (contrived)
	for _, tc := range []struct {
		name  string
		after time.Duration
		first bool
		succ  *Run
		wait  time.Duration // after the revoke
		want  string        // "delete", or the gate's words ("" for none)
		until bool          // the gate says until when
	}{
		// The default: at the next rotation's revoke.
		{"default, no next run", 0, false, nil, 400 * 24 * time.Hour, "next rotation's revoke", false},
		{"default, next run before its revoke", 0, false, successor(false), time.Hour, "next rotation's revoke", false},
		{"default, next run revoked", 0, false, successor(true), time.Hour, "delete", false},
		// delete_after: a duration after the revoke, next run or not.
		{"7d, a minute early", week, false, nil, week - time.Minute, "after", true},
		{"7d, due", week, false, nil, week, "delete", false},
		{"7d, due, next run before its revoke", week, false, successor(false), 30 * 24 * time.Hour, "delete", false},
		// Nothing to delete, or something keeps it.
		{"first rotation retired nothing", 0, true, successor(true), time.Hour, "", false},
		{"pinned by a rollback of the next run", week, false, pinned, 30 * 24 * time.Hour, "pinned", false},
		{"the next run's previous version", 0, false, keptBack, time.Hour, "keeps it as its previous", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, revoked := doneRun(t, tc.after, tc.first)
			h.at(revoked.Add(tc.wait))
			a := Next(h.r, h.s, h.now, Options{Since: h.since, Successor: tc.succ})
			switch {
			case tc.want == "delete":
				if describe(a) != "do delete @done" {
					t.Fatalf("Next = %s, want do delete @done", describe(a))
				}
			case a.Kind != Finished:
				t.Fatalf("Next = %s, want finished", describe(a))
			case tc.want == "" && a.Gate.Gate != "":
				t.Fatalf("gate %+v, want none", a.Gate)
			case tc.want != "" && (a.Gate.Gate != "delete" || !strings.Contains(a.Gate.Message, tc.want)):
				t.Fatalf("gate %s: %q, want delete saying %q", a.Gate.Gate, a.Gate.Message, tc.want)
			case tc.until != !a.Gate.Until.IsZero():
				t.Fatalf("until %s, want it set: %v", a.Gate.Until, tc.until)
			case tc.until && !a.Gate.Until.Equal(revoked.Add(tc.after)):
				t.Fatalf("until %s, want %s", a.Gate.Until, revoked.Add(tc.after))
			}
		})
	}
}

// TestDeleteNeverBeforeRevoke: at no point of a run before its revoke — through a rollback,
// an exception and the wait for approval, whatever the time and whatever the next run did —
// does Next ask for the deletion; a run marked done without a revoke (a damaged record) owes
// none either.
func TestDeleteNeverBeforeRevoke(t *testing.T) {
	h := newHarness(t, criticalSpec(), t0)
	h.s.DeleteAfter = time.Second
	opts := func() Options { return Options{Since: h.since, Successor: successor(true)} }
	check := func(when string) {
		t.Helper()
		if a := Next(h.r, h.s, h.now.Add(365*24*time.Hour), opts()); a.Step == StepDelete {
			t.Fatalf("%s: Next asked for the deletion before the revoke", when)
		}
	}
	for range 200 {
		check("phase " + string(h.r.Phase))
		a := Next(h.r, h.s, h.now, opts())
		if a.Kind != DoStep {
			break
		}
		h.perform(a, h.pass(a))
	}
	if err := h.rollback([]string{"api"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	check("rolled back")
	h.doRollback(nil)
	check("exception open")
	h.r.Phase = Done // damaged: done, never revoked
	if a := Next(h.r, h.s, h.now.Add(365*24*time.Hour), opts()); a.Kind != Finished || a.Step == StepDelete {
		t.Fatalf("a done run never revoked: Next = %s", describe(a))
	}
}

// TestDeleteFailureNeitherHaltsNorLoops: a store that refuses the deletion leaves the run
// done and unhalted, with the failure on the delete gate for the rest of the invocation; the
// next invocation tries again, and a deletion begun (a crash) is performed again.
func TestDeleteFailureNeitherHaltsNorLoops(t *testing.T) {
	h, revoked := doneRun(t, time.Hour, false)
	h.at(revoked.Add(time.Hour))
	o := func() Options { return Options{Since: h.since} }
	a := Next(h.r, h.s, h.now, o())
	Begin(h.r, a, h.now)
	if again := Next(h.r, h.s, h.now, o()); describe(again) != "do delete @done" {
		t.Fatalf("a deletion begun and cut short: Next = %s, want it performed again", describe(again))
	}
	Finish(h.r, StepDelete, "", Outcome{Err: terminal("version v1 is pinned")}, h.s, h.now)
	if h.r.Halt != nil || h.r.Phase != Done {
		t.Fatalf("after a failed deletion: halt %+v, phase %s", h.r.Halt, h.r.Phase)
	}
	a = Next(h.r, h.s, h.now.Add(time.Minute), o())
	if a.Kind != Finished || a.Gate.Gate != "delete" || a.Gate.Verdict != provider.Fail || !strings.Contains(a.Gate.Message, "pinned") {
		t.Fatalf("in the same invocation: %s %+v, want finished with the failure on the delete gate", describe(a), a.Gate)
	}
	h.at(h.now.Add(time.Hour))
	h.expect("do delete @done")
	h.perform(Next(h.r, h.s, h.now, o()), Outcome{Detail: "deleted v1"})
	if a := Next(h.r, h.s, h.now, o()); a.Kind != Finished || a.Gate.Gate != "" {
		t.Fatalf("after the deletion: %s %+v", describe(a), a.Gate)
	}
}
