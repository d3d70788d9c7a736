package rotation

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// The way out of prepare (issue 12, item 4): a run is cancelled before cutover — what it
// minted disabled at the authority, then removed from the store, and the run over — and a
// pending version whose readers changed is written again for them instead of blocking
// read-access for ever.

func cancel(t *testing.T, h *harness) {
	t.Helper()
	if err := BeginCancel(h.r, Cancellation{By: "carol", At: h.now, Reason: "leaked in a ticket"}); err != nil {
		t.Fatalf("BeginCancel: %v", err)
	}
}

// TestCancelBeforeCutover: from every point of prepare — before mint, stuck at read-access,
// prepared, halted, with a step cut short — a cancel disables what the run minted at the
// authority, then removes its pending version, and ends the run cancelled (not active).
func TestCancelBeforeCutover(t *testing.T) {
	spec := newSpec().consumer("api", reload, checks("c")).build()
	cases := []struct {
		name  string
		setup func(h *harness)
	}{
		{"before anything", func(h *harness) {}},
		{"after readiness", func(h *harness) { h.do("do readiness @preparing") }},
		{"stuck at read-access", func(h *harness) {
			h.do("do readiness @preparing")
			h.do("do mint @preparing")
			h.doWith("do read-access @preparing", Outcome{Verdict: provider.Fail, Detail: "api cannot decrypt"})
			wantWait(h.t, h.next(), "read-access", provider.Fail, Preparing)
		}},
		{"prepared", func(h *harness) {
			h.through = StagePrepare
			h.drive()
			if h.r.Phase != Prepared {
				h.t.Fatalf("phase %s", h.r.Phase)
			}
		}},
		{"halted at enable", func(h *harness) {
			h.driveUntil("do enable @preparing")
			h.doWith("do enable @preparing", Outcome{Err: provider.Errorf(provider.Denied, "enable", "permission denied")})
			if h.r.Phase != Halted || !strings.Contains(h.r.Halt.Next, "rotor cancel run-1 --reason") {
				h.t.Fatalf("a halt before cutover must offer the cancel: %+v", h.r.Halt)
			}
		}},
		{"mint cut short", func(h *harness) {
			a := h.driveUntil("do mint @preparing")
			Begin(h.r, a, h.now)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, spec, t0)
			c.setup(h)
			h.at(h.now.Add(time.Minute))
			cancel(t, h)
			if h.r.Phase != Cancelling || h.r.Halt != nil {
				t.Fatalf("after the request: phase %s halt %+v", h.r.Phase, h.r.Halt)
			}
			wantSeq(t, h.drive(), "do discard @cancelling", "do remove-pending @cancelling", "finished")
			for _, st := range h.r.Steps {
				if st.Status == Intent {
					t.Errorf("step %s left in intent", st.Name())
				}
			}
			if h.r.started(StepPromote) || (h.r.started(StepEnable) && c.name != "prepared" && c.name != "halted at enable") {
				t.Errorf("a cancelled run went on with its own steps: %+v", h.r.Steps)
			}
			// Once marked over (the engine does it with the last save), it stays over.
			h.r.Phase = Cancelled
			h.at(h.now.Add(time.Hour))
			h.expect("finished")
			if !h.r.Phase.Terminal() || slices.Contains(ActivePhases(), string(Cancelled)) || !slices.Contains(ActivePhases(), string(Cancelling)) {
				t.Error("cancelled must be over and not active; cancelling active")
			}
		})
	}
}

// TestCancelRefusals: after cutover (or an in-place enable) a cancel is refused, naming
// rollback; a done or cancelled run, a second request and a request without a reason too.
func TestCancelRefusals(t *testing.T) {
	c := Cancellation{By: "carol", At: t0, Reason: "why"}
	t.Run("after promote began", func(t *testing.T) {
		h := newHarness(t, newSpec().consumer("api", reload, checks("c")).build(), t0)
		a := h.driveUntil("do promote @cutting-over")
		Begin(h.r, a, h.now)
		err := BeginCancel(h.r, c)
		if !errors.Is(err, ErrWrongPhase) || !strings.Contains(err.Error(), "rotor rollback run-1") {
			t.Fatalf("cancel after promote began: %v", err)
		}
	})
	t.Run("in-place enable began", func(t *testing.T) {
		h := newHarness(t, newSpec().inPlace().consumer("api", reload, checks("c")).build(), t0)
		a := h.driveUntil("do enable @cutting-over")
		Begin(h.r, a, h.now)
		if err := BeginCancel(h.r, c); !errors.Is(err, ErrWrongPhase) || !strings.Contains(err.Error(), "rollback") {
			t.Fatalf("cancel after the in-place enable began: %v", err)
		}
	})
	t.Run("done", func(t *testing.T) {
		h := newHarness(t, newSpec().consumer("api", reload, checks("c")).build(), t0)
		h.drive()
		if err := BeginCancel(h.r, c); !errors.Is(err, ErrWrongPhase) {
			t.Fatalf("cancel of a done run: %v", err)
		}
	})
	t.Run("twice, or without a reason", func(t *testing.T) {
		h := newHarness(t, newSpec().consumer("api", reload, checks("c")).build(), t0)
		if err := BeginCancel(h.r, Cancellation{By: "carol", At: t0, Reason: "  "}); err == nil {
			t.Fatal("a cancel without a reason was taken")
		}
		cancel(t, h)
		if err := BeginCancel(h.r, c); !errors.Is(err, ErrWrongPhase) {
			t.Fatalf("a second cancel: %v", err)
		}
		if h.r.Cancel.By != "carol" || h.r.Cancel.Reason != "leaked in a ticket" {
			t.Errorf("the first request was overwritten: %+v", h.r.Cancel)
		}
	})
}

// TestCancelStepsResumeAndHalt: a cancel step cut short is performed again; one that fails
// halts the cancelling run (resumed by the next rotate), a retryable one waits its backoff.
func TestCancelStepsResumeAndHalt(t *testing.T) {
	h := newHarness(t, newSpec().consumer("api", reload, checks("c")).build(), t0)
	h.through = StagePrepare
	h.drive()
	cancel(t, h)
	a := h.expect("do discard @cancelling")
	Begin(h.r, a, h.now)
	h.at(h.now.Add(time.Minute))
	h.doWith("do discard @cancelling", Outcome{Err: provider.Errorf(provider.Retryable, "discard", "connection refused")})
	if w := h.next(); w.Kind != Wait || w.Gate.Gate != "retry" {
		t.Fatalf("after a retryable failure: %s", describe(w))
	}
	h.at(h.r.RetryAt)
	h.doWith("do discard @cancelling", Outcome{Err: provider.Errorf(provider.Denied, "discard", "permission denied")})
	if h.r.Phase != Halted || h.next().Kind != Stopped || !strings.Contains(h.r.Halt.Next, "being cancelled") {
		t.Fatalf("a failed cancel step must halt, saying the run is being cancelled: %s %+v", h.r.Phase, h.r.Halt)
	}
	Resume(h.r, h.now)
	if h.r.Phase != Cancelling {
		t.Fatalf("resumed into %s, want cancelling", h.r.Phase)
	}
	wantSeq(t, h.drive(), "do discard @cancelling", "do remove-pending @cancelling", "finished")
}

// TestResealWhenReadersChanged: read-access failing after the readers changed (a consumer's
// key replaced in the inventory) writes the pending version again for the current readers —
// the same version, no second mint — and proves read access again, once: it fails again,
// the run waits at read-access instead of looping. Without the store's power, or with the
// readers unchanged, it waits at once.
func TestResealWhenReadersChanged(t *testing.T) {
	spec := func(readers string, can bool) Spec {
		s := newSpec().consumer("api", reload, checks("c")).build()
		s.Readers, s.Reseal = readers, can
		return s
	}
	failRead := Outcome{Verdict: provider.Fail, Detail: "api cannot decrypt"}
	minted := func(h *harness) {
		h.do("do readiness @preparing")
		a := h.expect("do mint @preparing")
		out := h.pass(a)
		out.Readers = "readers-1"
		h.perform(a, out)
		h.doWith("do read-access @preparing", failRead)
	}

	t.Run("readers changed", func(t *testing.T) {
		h := newHarness(t, spec("readers-1", true), t0)
		minted(h)
		wantWait(t, h.next(), "read-access", provider.Fail, Preparing)
		h.s = spec("readers-2", true) // the inventory fixed
		h.at(h.now.Add(time.Hour))
		a := h.expect("do reseal @preparing")
		out := h.pass(a)
		out.Readers = "readers-2"
		h.perform(a, out)
		wantSeq(t, h.drive(), "do read-access @preparing", "do enable @preparing", "do promote @cutting-over",
			"do reload:api @cutting-over", "do check:api @cutting-over", "do revoke @revoking", "do record @revoking", "finished")
		if h.r.Readers != "readers-2" || h.r.Step(StepMint, "").Attempt != 1 {
			t.Errorf("readers %q, mint attempts %d", h.r.Readers, h.r.Step(StepMint, "").Attempt)
		}
	})
	t.Run("fails again after the reseal", func(t *testing.T) {
		h := newHarness(t, spec("readers-2", true), t0)
		minted(h)
		a := h.expect("do reseal @preparing") // same invocation: the readers differ already
		out := h.pass(a)
		out.Readers = "readers-2"
		h.perform(a, out)
		h.doWith("do read-access @preparing", failRead)
		wantWait(t, h.next(), "read-access", provider.Fail, Preparing)
		h.at(h.now.Add(time.Hour))
		h.doWith("do read-access @preparing", failRead) // a new invocation tries again, no reseal
		wantWait(t, h.next(), "read-access", provider.Fail, Preparing)
	})
	t.Run("store cannot reseal", func(t *testing.T) {
		h := newHarness(t, spec("readers-2", false), t0)
		minted(h)
		wantWait(t, h.next(), "read-access", provider.Fail, Preparing)
	})
	t.Run("readers unchanged", func(t *testing.T) {
		h := newHarness(t, spec("readers-1", true), t0)
		minted(h)
		wantWait(t, h.next(), "read-access", provider.Fail, Preparing)
	})
}
