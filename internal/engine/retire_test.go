package engine_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/journal"
	"github.com/rotorhq/rotor/internal/rotation"
)

// Disable, and only later delete: the version a run retires at its revoke is deleted from the
// (real, file) store later, by a step of that run, performed by a rotate of the credential.

// stored is the file store's record of a version: whether it is enabled, or deleted (the
// record stays, so that an id is never reused), and whether its ciphertext is still on disk.
func (f *fixture) stored(id string) (enabled, deleted, file bool) {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, "store", "api-key", "index.json"))
	if err != nil {
		f.t.Fatal(err)
	}
	var ix struct {
		Versions []struct {
			ID      string `json:"id"`
			Enabled bool   `json:"enabled"`
			Deleted bool   `json:"deleted"`
		} `json:"versions"`
	}
	if err := json.Unmarshal(b, &ix); err != nil {
		f.t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(f.dir, "store", "api-key", "versions", id+".*"))
	for _, v := range ix.Versions {
		if v.ID == id {
			return v.Enabled, v.Deleted, len(files) > 0
		}
	}
	f.t.Fatalf("the store has no record of %s", id)
	return
}

func (f *fixture) statusOf(run string) (rotation.Run, rotation.Action) {
	f.t.Helper()
	st, err := f.engine("auditor").View().Status(context.Background(), run)
	if err != nil {
		f.t.Fatal(err)
	}
	return st.Run, st.Next
}

// TestDeleteAtTheNextRevoke: by default the version a run retired is deleted when the next
// rotation revokes — in that rotation's rotate, recorded in the journal of the run that
// retired it — so the store always keeps exactly one previous version, disabled.
func TestDeleteAtTheNextRevoke(t *testing.T) {
	f := newFixture(t, "")
	v1 := f.rotate("alice").Run.New.ID
	f.advance(time.Hour)
	second := f.rotate("alice").Run
	if second.Phase != rotation.Done || second.Previous.ID != v1 {
		t.Fatalf("second rotation: %s, previous %+v", second.Phase, second.Previous)
	}
	if enabled, deleted, file := f.stored(v1); enabled || deleted || !file {
		t.Fatalf("after its revoke %s must be disabled and kept: enabled %v, deleted %v, file %v", v1, enabled, deleted, file)
	}
	_, next := f.statusOf(second.ID)
	if next.Kind != rotation.Finished || next.Gate.Gate != "delete" || !strings.Contains(next.Gate.Message, "next rotation's revoke") {
		t.Fatalf("status of %s: %+v, want the deletion pending until the next revoke", second.ID, next)
	}

	f.advance(time.Hour)
	third := f.rotate("alice").Run
	if third.Phase != rotation.Done {
		t.Fatalf("third rotation: %s", third.Phase)
	}
	if _, deleted, file := f.stored(v1); !deleted || file {
		t.Fatalf("after the next revoke %s must be deleted: deleted %v, file %v", v1, deleted, file)
	}
	if enabled, deleted, _ := f.stored(second.New.ID); enabled || deleted {
		t.Fatalf("%s, the previous version now, must be kept disabled: enabled %v, deleted %v", second.New.ID, enabled, deleted)
	}
	r, next := f.statusOf(second.ID)
	if st := r.Step(rotation.StepDelete, ""); st.Status != rotation.OK || st.Data["deleted"] != v1 {
		t.Fatalf("%s's delete step: %+v", second.ID, st)
	}
	if next.Kind != rotation.Finished || next.Gate.Gate != "" {
		t.Fatalf("status after the deletion: %+v", next)
	}
	entries := f.journalOf(second.ID)
	if count(entries, journal.KindStepStarted, "delete") != 1 || count(entries, journal.KindStepDone, "delete") != 1 {
		t.Fatalf("the journal of %s must hold the deletion's intent and outcome once", second.ID)
	}
	// The intent was saved before the store's effect, after the run was done.
	var phaseDone, intent int
	for i, en := range entries {
		switch {
		case en.Kind == journal.KindPhase && en.Summary == "done":
			phaseDone = i
		case en.Kind == journal.KindStepStarted && en.Step == "delete":
			intent = i
		}
	}
	if intent < phaseDone {
		t.Fatalf("the deletion's intent (entry %d) comes before the run was done (entry %d)", intent, phaseDone)
	}
	if got := count(f.journalOf(third.ID), journal.KindStepStarted, "delete"); got != 0 {
		t.Fatalf("the run that revoked records %d deletions of its own, want none: its previous version stays", got)
	}
}

// TestDeleteAfterADelay: with delete_after, the retired version goes that long after its
// revoke, by the first rotate of the credential from then on — one that starts nothing.
func TestDeleteAfterADelay(t *testing.T) {
	f := newFixture(t, "    delete_after: 7d\n")
	v1 := f.rotate("alice").Run.New.ID
	f.advance(time.Hour)
	second := f.rotate("alice").Run
	revoked := second.Step(rotation.StepRevoke, "").FinishedAt

	e := f.engine("alice")
	call := f.call("alice")
	call.Force = false // rotate as a cron job would: nothing is due for 30 days
	f.advance(revoked.Add(7*24*time.Hour - time.Minute).Sub(f.clock()))
	res, err := e.Rotate(context.Background(), call, "api-key", rotation.StageRevoke)
	if err != nil || res.NotDue == nil {
		t.Fatalf("rotate a minute early: %v, not due %v", err, res.NotDue)
	}
	if _, deleted, _ := f.stored(v1); deleted {
		t.Fatalf("%s deleted before delete_after had passed", v1)
	}
	if _, next := f.statusOf(second.ID); next.Gate.Gate != "delete" || !next.Gate.Until.Equal(revoked.Add(7*24*time.Hour)) {
		t.Fatalf("status: %+v, want the deletion pending until the revoke + 7d", next.Gate)
	}

	f.advance(time.Minute)
	if res, err = e.Rotate(context.Background(), call, "api-key", rotation.StageRevoke); err != nil || res.NotDue == nil {
		t.Fatalf("rotate once delete_after has passed: %v, not due %v", err, res.NotDue)
	}
	if _, deleted, file := f.stored(v1); !deleted || file {
		t.Fatalf("%s not deleted 7 days after its revoke: deleted %v, file %v", v1, deleted, file)
	}
	if _, deleted, _ := f.stored(second.New.ID); deleted {
		t.Fatal("the current version was deleted")
	}
	r, _ := f.statusOf(second.ID)
	if !strings.Contains(r.Step(rotation.StepDelete, "").Detail, "delete_after 7d") {
		t.Fatalf("the delete step does not say its policy: %+v", r.Step(rotation.StepDelete, ""))
	}
	// Deleting is done once: a later rotate has nothing to do.
	f.advance(time.Hour)
	if _, err := e.Rotate(context.Background(), call, "api-key", rotation.StageRevoke); err != nil {
		t.Fatal(err)
	}
	if got := count(f.journalOf(second.ID), journal.KindStepStarted, "delete"); got != 1 {
		t.Fatalf("%d deletions started, want 1", got)
	}
}
