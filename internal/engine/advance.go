package engine

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/provider"
	"github.com/rotorhq/rotor/internal/rotation"
	"github.com/rotorhq/rotor/internal/state"
)

// drive performs steps until the run finishes, pauses at the through stage, or stops at a
// gate.
func (rs *runState) drive(ctx context.Context, o rotation.Options) (res Result, err error) {
	defer rs.flushNotifications(ctx)
	defer rs.forget()
	// Whatever ends the drive, what local steps found since the last save is saved: on a
	// cancelled context too (the outcome of the effect before them is among it).
	defer func() {
		if ferr := rs.flush(context.WithoutCancel(ctx)); ferr != nil && err == nil {
			err = ferr
		}
	}()
	var begun *rotation.Action
	for {
		if err := ctx.Err(); err != nil {
			return Result{Run: rs.run}, err
		}
		now := rs.e.now()
		if begun != nil { // its intent went with the previous step's outcome: saved, or held for a local step
			a := *begun
			var err error
			if begun, err = rs.do(ctx, a, o, true); err != nil {
				return Result{Run: rs.run, Action: a}, err
			}
			continue
		}
		a := rotation.Next(&rs.run, rs.spec, now, o)
		if a.Kind == rotation.DoStep && rs.run.Phase == rotation.Done {
			// The run is over and its lock released with its last save: what it still owes,
			// the deletion of the version it retired, is performed by retire, under the lock.
			a = rotation.Action{Kind: rotation.Finished}
		}
		switch a.Kind {
		case rotation.DoStep:
			var err error
			if begun, err = rs.do(ctx, a, o, false); err != nil {
				return Result{Run: rs.run, Action: a}, err
			}
			continue
		case rotation.Wait:
			if until := a.Gate.Until; !until.IsZero() && until.Sub(now) <= rs.call.MaxWait {
				if err := rs.flush(ctx); err != nil { // nothing waits unsaved
					return Result{Run: rs.run, Action: a}, err
				}
				fmt.Fprintf(rs.call.progress(), "  … %s: waiting until %s\n", a.Gate.Gate, until.Format(time.RFC3339))
				if err := rs.e.Sleep(ctx, until.Sub(now)+time.Millisecond); err != nil {
					return Result{Run: rs.run, Action: a}, err
				}
				continue
			}
			if err := rs.recordGate(ctx, a); err != nil {
				return Result{Run: rs.run, Action: a}, err
			}
		case rotation.Pause:
			if a.Phase != "" && rs.run.Phase != a.Phase {
				rs.run.Phase = a.Phase
				if err := rs.save(ctx, rs.entry(journal.KindPhase, "", "", "phase "+string(a.Phase)+" reached; stopping as asked (--through)")); err != nil {
					return Result{Run: rs.run, Action: a}, err
				}
			}
		case rotation.Finished:
			if !rs.run.Phase.Terminal() {
				if err := rs.save(ctx, rs.markDone()); err != nil {
					return Result{Run: rs.run, Action: a}, err
				}
			}
		}
		return Result{Run: rs.run, Action: a}, nil
	}
}

// recordGate journals a blocking gate, once per change of its verdict or message.
func (rs *runState) recordGate(ctx context.Context, a rotation.Action) error {
	changed := a.Phase != "" && rs.run.Phase != a.Phase
	if a.Phase != "" {
		rs.run.Phase = a.Phase
	}
	// Owed with the gate's entry, or at the end of the operation when the gate is unchanged:
	// once per gate and reason (notify.go reads what is owed).
	rs.gateEvent(ctx, a)
	prev := rs.run.Gate(a.Gate.Gate)
	if !changed && prev.Verdict == a.Gate.Verdict && prev.Message == a.Gate.Message {
		return nil
	}
	rs.run.SetGate(a.Gate)
	en := rs.entry(journal.KindGate, "", "", fmt.Sprintf("blocked at %s: %s", a.Gate.Gate, a.Gate.Message))
	en.Verdict = a.Gate.Verdict
	// The summary already says the gate and its message; the data adds what unblocks it.
	data := map[string]any{"gate": a.Gate.Gate, "unblock": a.Gate.Unblock}
	if !a.Gate.Until.IsZero() {
		data["until"] = a.Gate.Until
	}
	en.Data, _ = journal.MarshalData(data)
	return rs.save(ctx, en)
}

// do performs one durable step: intent, effect, outcome.
//
// The intent of a step with an effect is durable before its effect. When the next step is
// already known as a step is finished, its intent is saved in the same transaction as this
// step's outcome — one synced write instead of two — and do returns it as begun: drive
// performs it without another intent save. A crash after that save resumes the begun step
// like any other whose intent is recorded and whose outcome is not.
//
// A local step (rotation.StepKind.Local: an observation, or record) is not worth a synced
// write of its own: its intent, and the outcome before it, are held in memory while it runs,
// and saved with its outcome and the next step's intent (record's writes with them). A crash
// while it runs loses the outcome of the step before it, whose effect is idempotent and is
// performed again on resume (its intent is durable); nothing with an effect ever starts on an
// unsaved state, since the intent of the next step with an effect is saved with everything
// held.
func (rs *runState) do(ctx context.Context, a rotation.Action, o rotation.Options, begun bool) (*rotation.Action, error) {
	e := rs.e
	name := rotation.StepName(a.Step, a.Consumer)
	if !begun {
		if a.Step.Local() {
			rs.held = append(rs.held, rs.begin(a))
		} else {
			if err := rs.save(ctx, rs.begin(a)); err != nil {
				return nil, err
			}
			rs.crashPoint("intent:" + name)
		}
	}
	fmt.Fprintf(rs.call.progress(), "  → %s …", name)

	out, extra := rs.effect(ctx, a)
	out.Err = rs.scrub.err(out.Err)
	out.Detail = rs.scrub.text(out.Detail)
	rs.crashPoint("effect:" + name)
	if err := ctx.Err(); err != nil {
		// Cancelled (Ctrl-C, a deadline) while the effect ran: its outcome may be the
		// cancellation's, not the effect's, and a check would record "unknown" evidence that
		// nobody gathered. It is not recorded: the step stays begun and the resume performs it
		// again (effects are idempotent). What is held — the outcome before a local step —
		// is saved by drive on its way out; what the effect meant to write with its outcome
		// (record's) is not.
		rs.with = state.RunSave{}
		return nil, err
	}

	after, failure, entries := rs.finish(a, out, extra)
	rs.stepEvents(ctx, a) // owed in the same transaction as the outcome
	var next *rotation.Action
	if ctx.Err() == nil {
		switch n := rotation.Next(&rs.run, rs.spec, e.now(), o); {
		case n.Kind == rotation.DoStep:
			entries = append(entries, rs.begin(n))
			next = &n
			if n.Step.Local() && rs.run.Halt == nil {
				rs.held = append(rs.held, entries...)
				rs.printOutcome(name, after, failure)
				return next, nil
			}
		case n.Kind == rotation.Finished && !rs.run.Phase.Terminal():
			entries = append(entries, rs.markDone()) // the last outcome and the end of the run: one save
		}
	}
	if err := rs.save(ctx, entries...); err != nil {
		// The line ends, and says that what it reports is not recorded: the resume performs
		// the step again (effects are idempotent).
		fmt.Fprintf(rs.call.progress(), " %s, not recorded: the state could not be saved\n", after.Verdict)
		return nil, err
	}
	rs.crashPoint("outcome:" + name)
	rs.printOutcome(name, after, failure)
	if next != nil {
		rs.crashPoint("intent:" + rotation.StepName(next.Step, next.Consumer))
	}
	return next, nil
}

// clauseColumn is where the clause of a step's progress line starts, so that the clauses
// of a rotate's steps line up.
const clauseColumn = 32

// printOutcome ends the step's progress line ("  → name …", printed before its effect) with
// its verdict and one short clause: what the step proved or did (its detail), or, when it
// failed with an error, which attempt failed, how, whether it can have changed anything, and
// when the next attempt is due (rotation.Run.Failure) — the words of the journal and status.
func (rs *runState) printOutcome(name string, st rotation.Step, failure string) {
	word, clause := string(st.Verdict), st.Detail
	if failure != "" {
		word, clause = "error", failure
	} else if n := utf8.RuneCountInString(clause); n > 160 {
		clause = string([]rune(clause)[:159]) + "…"
	}
	if clause == "" {
		fmt.Fprintf(rs.call.progress(), " %s\n", word)
		return
	}
	used := utf8.RuneCountInString("  → " + name + " … " + word)
	fmt.Fprintf(rs.call.progress(), " %s%s%s\n", word, strings.Repeat(" ", max(2, clauseColumn-used)), clause)
}

// markDone puts the run in its last phase — done, or cancelled — and returns the entry that
// says so.
func (rs *runState) markDone() journal.Entry {
	if r := &rs.run; r.Cancel != nil {
		r.Phase = rotation.Cancelled
		what := "cancelled: nothing was rotated"
		if r.Previous != nil {
			what += "; " + r.Previous.ID + " stays current"
		}
		return rs.entry(journal.KindPhase, "", "", what)
	}
	rs.run.Phase = rotation.Done
	return rs.entry(journal.KindPhase, "", "", "done")
}

// begin marks a step started in the run and returns its intent entry, to be saved before the
// step's effect.
func (rs *runState) begin(a rotation.Action) journal.Entry {
	name := rotation.StepName(a.Step, a.Consumer)
	st := rotation.Begin(&rs.run, a, rs.e.now())
	summary := "starting " + name
	if st.Attempt > 1 {
		summary = fmt.Sprintf("starting %s (attempt %d)", name, st.Attempt)
	}
	return rs.entry(journal.KindStepStarted, string(a.Step), a.Consumer, summary)
}

func (rs *runState) openException() rotation.Exception {
	if ex := rs.run.OpenException(); ex != nil {
		return *ex
	}
	return rotation.Exception{}
}

// finish records a step's outcome in the run (rotation.Finish and its rollback and exception
// variants) and returns the step as recorded, its failure in words ("" unless it failed with
// an error) and the journal entries that report it: the evidence it gathered, its outcome
// with attempt, error kind, whether it may have changed anything and when it is tried next,
// and a halt's advice.
func (rs *runState) finish(a rotation.Action, out rotation.Outcome, extra []journal.Entry) (rotation.Step, string, []journal.Entry) {
	name := rotation.StepName(a.Step, a.Consumer)
	now := rs.e.now()
	switch a.Step {
	case rotation.StepRollback:
		rotation.FinishRollback(&rs.run, rs.openException().Consumers, out.Detail, out.Err, now)
	case rotation.StepExceptionExpiry:
		if out.Err == nil && out.Verdict == provider.Fail {
			rotation.FinishExceptionOverdue(&rs.run, out.Detail, now)
		} else {
			rotation.Finish(&rs.run, a.Step, a.Consumer, out, rs.spec, now)
		}
	default:
		rotation.Finish(&rs.run, a.Step, a.Consumer, out, rs.spec, now)
	}
	after := rs.run.Step(a.Step, a.Consumer)
	failure := rs.run.Failure(after)
	kind, verdict := journal.KindStepDone, after.Verdict
	line := fmt.Sprintf("%s: %s", name, after.Verdict)
	if after.Status != rotation.OK {
		kind = journal.KindStepFailed
	}
	switch {
	case failure != "":
		line = name + ": error — " + failure
	case after.Detail != "":
		line += " — " + after.Detail
	}
	en := rs.entry(kind, string(a.Step), a.Consumer, line)
	en.Verdict = verdict
	data := map[string]any{"attempt": after.Attempt}
	if len(after.Data) > 0 {
		data["data"] = after.Data
	}
	if failure != "" {
		data["error_kind"] = after.ErrorKind
		if !a.Step.Local() {
			data["may_have_changed"] = !after.NothingChanged
		}
		if rs.run.RetryStep == name {
			data["next_attempt_at"] = rs.run.RetryAt
		}
	}
	en.Data, _ = journal.MarshalData(data)
	entries := append(extra, en)
	if rs.run.Halt != nil {
		entries = append(entries, rs.entry(journal.KindNote, string(a.Step), a.Consumer, "halted in a safe state: "+rs.run.Halt.Next))
	}
	return after, failure, entries
}
