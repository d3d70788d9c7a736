package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/internal/engine"
	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/rotation"
)

// TestCancelBeforeCutover (issue 12, item 4): a prepared run is cancelled by a person — the
// request journaled with who asked, as which OS account, and why — its pending version is
// removed from the store, the current one stays, the run is over (cancelled) and the lock
// free: a new run starts and finishes, and the deletion the run before it owes is not held up
// by the cancelled one in between. A done run, or one past cutover, is not cancelled: the
// refusal names rollback, and is journaled too.
func TestCancelBeforeCutover(t *testing.T) {
	f := newFixture(t, "")
	f.rotateDone(f.engine("alice"))
	second := f.rotateDone(f.engine("alice")).Run // retires the first version (deleted at the next revoke)

	res, err := f.engine("alice").Rotate(context.Background(), f.call("alice"), "api-key", rotation.StagePrepare)
	if err != nil || res.Run.Phase != rotation.Prepared {
		t.Fatalf("rotate through prepare: %s %v", res.Run.Phase, err)
	}
	run, pending, current := res.Run.ID, res.Run.New.ID, res.Run.Previous.ID

	call := engine.Call{Actor: "carol", OSUser: "carol-os"}
	res, err = f.engine("carol").Cancel(context.Background(), call, run, "pasted in a ticket")
	if err != nil || res.Run.Phase != rotation.Cancelled || res.Action.Kind != rotation.Finished {
		t.Fatalf("cancel: %s %+v %v", res.Run.Phase, res.Action, err)
	}
	if enabled, deleted, file := f.stored(pending); enabled || !deleted || file {
		t.Errorf("pending %s after the cancel: enabled %v deleted %v file %v", pending, enabled, deleted, file)
	}
	if enabled, deleted, _ := f.stored(current); !enabled || deleted {
		t.Errorf("current %s after the cancel: enabled %v deleted %v", current, enabled, deleted)
	}
	entries := f.journalOf(run)
	var asked *journal.Entry
	for i := range entries {
		if entries[i].Kind == journal.KindCancel {
			asked = &entries[i]
		}
	}
	if asked == nil || asked.Actor != "carol" || asked.OSUser != "carol-os" || !strings.Contains(asked.Summary, "pasted in a ticket") {
		t.Fatalf("the cancel request is not journaled with who, the OS account and why: %+v", asked)
	}
	for _, s := range []string{"discard", "remove-pending"} {
		if count(entries, journal.KindStepDone, s) != 1 {
			t.Errorf("the journal has no %s outcome", s)
		}
	}

	next := f.rotate("alice")
	if next.Run.ID == run || next.Run.Phase != rotation.Done {
		t.Fatalf("a new run after the cancel: %s %s %+v", next.Run.ID, next.Run.Phase, next.Action.Gate)
	}
	if r, _ := f.statusOf(second.ID); r.Step(rotation.StepDelete, "").Status != rotation.OK {
		t.Errorf("run %s's deletion of %s waits behind the cancelled run: %+v", second.ID, second.Previous.ID, r.Step(rotation.StepDelete, ""))
	}

	if _, err := f.engine("carol").Cancel(context.Background(), call, next.Run.ID, "too late"); !errors.Is(err, rotation.ErrWrongPhase) {
		t.Fatalf("cancel of a done run: %v", err)
	}
	res, err = f.engine("alice").Rotate(context.Background(), f.call("alice"), "api-key", rotation.StageCutover)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.engine("carol").Cancel(context.Background(), call, res.Run.ID, "too late")
	if !errors.Is(err, rotation.ErrWrongPhase) || !strings.Contains(err.Error(), "rotor rollback "+res.Run.ID) {
		t.Fatalf("cancel after cutover: %v", err)
	}
	if got := f.journalOf(res.Run.ID); !strings.Contains(got[len(got)-1].Summary, "cancel by carol refused") {
		t.Errorf("the refused cancel is not journaled: %s", got[len(got)-1].Summary)
	}
}
